"""Fast tests of the retrieval helpers: fusion maths and ties, hashing, run ordering, model resolution."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from workbench.errors import ProviderUnavailableError, WorkbenchError
from workbench.model import RUN_SCHEMA
from workbench.retrieval.base import order_run
from workbench.retrieval.cache import atomic_dir, cache_dir, hash_dir, hash_table
from workbench.retrieval.fuse import fuse
from workbench.retrieval.rerank import _shift_above_tail, detect_model_kind


def run_table(rows: list[tuple[str, str, float]]) -> pa.Table:
    q, d, s = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table({"query_id": list(q), "doc_id": list(d), "score": list(s)})


def as_lists(table: pa.Table) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for q, d, s in zip(*(table.column(c).to_pylist() for c in ("query_id", "doc_id", "score")), strict=True):
        out.setdefault(q, []).append((d, s))
    return out


def test_order_run_is_trec_eval_order_and_ranks_from_one() -> None:
    run = order_run(run_table([("2", "a", 1.0), ("1", "a", 0.5), ("1", "c", 0.9), ("1", "b", 0.9)]))
    assert run.schema == RUN_SCHEMA
    assert run.to_pylist() == [
        {"query_id": "1", "doc_id": "c", "score": 0.9, "rank": 1},
        {"query_id": "1", "doc_id": "b", "score": 0.9, "rank": 2},  # tie: doc_id descending
        {"query_id": "1", "doc_id": "a", "score": 0.5, "rank": 3},
        {"query_id": "2", "doc_id": "a", "score": 1.0, "rank": 1},
    ]
    assert order_run(run_table([("1", "a", 1.0), ("1", "b", 2.0)]), hits=1).column("doc_id").to_pylist() == ["b"]


def test_order_run_rejects_a_doc_twice_in_one_query() -> None:
    with pytest.raises(WorkbenchError, match="twice"):
        order_run(run_table([("1", "a", 1.0), ("1", "a", 0.5)]))


def test_rrf_scores_ignore_the_rank_column_and_break_ties_by_doc_id_descending() -> None:
    a = run_table([("q", "x", 3.0), ("q", "y", 2.0), ("q", "z", 2.0)]).append_column("rank", pa.array([9, 8, 7]))
    b = run_table([("q", "z", 0.5), ("q", "w", 0.4)])
    out = as_lists(fuse([a, b], k=60).run)["q"]
    # a's trec_eval ranks: x 1, z 2 (tie with y, z > y), y 3; b: z 1, w 2
    expected = {"x": 1 / 61, "z": 1 / 62 + 1 / 61, "y": 1 / 63, "w": 1 / 62}
    assert dict(out) == pytest.approx(expected, abs=1e-15)
    assert [d for d, _ in out] == ["z", "x", "w", "y"]


def test_rrf_tied_fused_scores_come_out_doc_id_descending() -> None:
    a = run_table([("q", "a", 1.0)])
    b = run_table([("q", "b", 1.0)])
    assert [d for d, _ in as_lists(fuse([a, b]).run)["q"]] == ["b", "a"]


def test_depth_and_hits_cut() -> None:
    a = run_table([("q", f"d{i}", 10.0 - i) for i in range(5)])
    b = run_table([("q", "d4", 1.0)])
    res = fuse([a, b], depth=2, hits=3)
    assert dict(as_lists(res.run)["q"]) == pytest.approx({"d4": 1 / 61, "d0": 1 / 61, "d1": 1 / 62})
    assert res.params["depth"] == 2 and res.params["hits"] == 3 and res.params["k"] == 60


@pytest.mark.parametrize(
    ("norm", "expected_a"),
    [
        ("minmax", {"x": 1.0, "y": 0.5, "z": 0.0}),
        ("zscore", {"x": 1.224744871391589, "y": 0.0, "z": -1.224744871391589}),
        ("rank", {"x": 1.0, "y": 2 / 3, "z": 1 / 3}),
        (None, {"x": 3.0, "y": 2.0, "z": 1.0}),
    ],
)
def test_combsum_normalisations(norm: str | None, expected_a: dict[str, float]) -> None:
    a = run_table([("q", "x", 3.0), ("q", "y", 2.0), ("q", "z", 1.0)])
    b = run_table([("q", "x", 7.0)])  # one document: minmax gives 1, zscore 0, rank 1
    single = {"minmax": 1.0, "zscore": 0.0, "rank": 1.0, None: 7.0}[norm]
    got = dict(as_lists(fuse([a, b], method="combsum", norm=norm).run)["q"])  # type: ignore[arg-type]
    assert got == pytest.approx({**expected_a, "x": expected_a["x"] + single})


def test_combmnz_multiplies_by_the_number_of_runs_and_interpolation_weights() -> None:
    a = run_table([("q", "x", 1.0), ("q", "y", 0.0)])
    b = run_table([("q", "x", 0.0), ("q", "y", 1.0), ("q", "z", 0.5)])
    mnz = dict(as_lists(fuse([a, b], method="combmnz").run)["q"])
    assert mnz == pytest.approx({"x": 2.0, "y": 2.0, "z": 0.5})
    interp = dict(as_lists(fuse([a, b], method="interpolation", weights=[0.8, 0.2]).run)["q"])
    assert interp == pytest.approx({"x": 0.8, "y": 0.2, "z": 0.1})
    with pytest.raises(WorkbenchError, match="exactly 2"):
        fuse([a, b, a], method="interpolation")


def test_fuse_rejects_unknown_method_norm_and_weight_count() -> None:
    a = run_table([("q", "x", 1.0)])
    with pytest.raises(WorkbenchError, match="unknown fusion method"):
        fuse([a, a], method="borda")  # type: ignore[arg-type]
    with pytest.raises(WorkbenchError, match="unknown normalisation"):
        fuse([a, a], method="combsum", norm="l2")  # type: ignore[arg-type]
    with pytest.raises(WorkbenchError, match="weight"):
        fuse([a, a], weights=[1.0])


def _reference_fusion(runs, method, norm, weights, k, depth, hits):
    """Fusion written out the plain way (per query, per input, in input order) to check fuse() against."""
    import math

    fused: dict[tuple[str, str], list[float]] = {}
    for i, run in enumerate(runs):
        by_query: dict[str, list[tuple[float, str]]] = {}
        for q, d, sc in zip(*(run.column(c).to_pylist() for c in ("query_id", "doc_id", "score")), strict=True):
            by_query.setdefault(q, []).append((sc, d))
        for q, rows in by_query.items():
            rows = sorted(rows, key=lambda r: (-r[0], [-b for b in r[1].encode()] + [1]))[:depth]
            scores = np.array([sc for sc, _ in rows])
            n = len(rows)
            for rank, (sc, d) in enumerate(rows, start=1):
                if method == "rrf":
                    v = weights[i] / (k + float(rank))
                elif norm == "minmax":
                    span = scores.max() - scores.min()
                    v = weights[i] * ((sc - scores.min()) / span if span > 0 else 1.0)
                elif norm == "rank":
                    v = weights[i] * ((n - rank + 1) / n)
                elif norm == "zscore":
                    mean = scores.sum() / n
                    std = math.sqrt(((scores - mean) ** 2).sum() / n)
                    v = weights[i] * ((sc - mean) / std if std > 0 else 0.0)
                else:
                    v = weights[i] * sc
                fused.setdefault((q, d), []).append(v)
    out = []
    for (q, d), values in fused.items():
        total = 0.0
        for v in values:
            total += v
        out.append((q, d, total * len(values) if method == "combmnz" else total))
    out.sort(key=lambda r: (r[0], -r[2], [-b for b in r[1].encode()] + [1]))
    ranked, seen = [], {}
    for q, d, sc in out:
        seen[q] = seen.get(q, 0) + 1
        if seen[q] <= hits:
            ranked.append((q, d, sc))
    return ranked


@pytest.mark.parametrize(("method", "norm", "weights"), [
    ("rrf", None, [1.0, 1.0, 1.0]), ("rrf", None, [0.7, 0.2, 0.1]), ("combsum", "minmax", [1.0, 0.3, 2.0]),
    ("combsum", "rank", [1.0, 1.0, 1.0]), ("combsum", None, [1.0, 1.0, 1.0]), ("combmnz", "minmax", [1.0, 1.0, 1.0]),
    ("combsum", "zscore", [1.0, 0.5, 1.0])])
def test_fuse_equals_a_plain_reference_bit_for_bit(method, norm, weights) -> None:
    """Three random runs with heavy ties (one carrying stored positions): the fused run's order and scores equal
    the plain per-query loop's exactly (z-score within 1e-12: its mean and std are summed in numpy)."""
    rng = np.random.default_rng(11)
    runs = []
    for j in range(3):
        rows = [(f"q{q}", f"d{d}", float(rng.integers(0, 8)) / 7 + j)
                for q in range(6) for d in rng.permutation(50)[:35]]
        runs.append(run_table(rows))
    ordered = order_run(runs[2])  # as the store hands it over: trec_eval positions beside the rows, shuffled
    shuffled = ordered.take(pa.array(rng.permutation(ordered.num_rows)))
    runs[2] = shuffled.select(["query_id", "doc_id", "score"]).append_column("position", shuffled.column("rank"))
    got = fuse(runs, method=method, norm=norm, weights=weights, k=60, depth=20, hits=25).run
    want = _reference_fusion(runs, method, norm, weights, 60, 20, 25)
    assert list(zip(got.column("query_id").to_pylist(), got.column("doc_id").to_pylist(), strict=True)) == [
        (q, d) for q, d, _ in want]
    if norm == "zscore":
        np.testing.assert_allclose(got.column("score").to_numpy(), [sc for *_, sc in want], rtol=0, atol=1e-12)
    else:
        assert got.column("score").to_pylist() == [sc for *_, sc in want]
    assert got.column("rank").to_pylist() == [r for q in dict.fromkeys(r[0] for r in want)
                                               for r in range(1, sum(1 for x in want if x[0] == q) + 1)]


@pytest.mark.retrieval
def test_rrf_equals_pyserini_fusion_on_random_runs() -> None:
    import pandas as pd
    from pyserini.fusion import reciprocal_rank_fusion
    from pyserini.trectools import TrecRun

    rng = np.random.default_rng(7)
    runs = []
    for _ in range(3):
        rows = [(f"q{q}", f"d{d}", float(rng.integers(0, 20))) for q in range(5) for d in rng.permutation(60)[:40]]
        runs.append(order_run(run_table(rows)))  # integer scores: many ties
    ours = fuse(runs, k=60, depth=30, hits=None).run
    trec_runs = []
    for run in runs:
        frame = run.to_pandas().rename(columns={"query_id": "topic", "doc_id": "docid"})
        frame.insert(1, "q0", "Q0")
        frame["tag"] = "t"
        tr = TrecRun()
        tr.run_data = frame[TrecRun.columns]
        trec_runs.append(tr)
    theirs = reciprocal_rank_fusion(trec_runs, rrf_k=60, depth=30, k=None).run_data
    theirs = theirs.sort_values(["topic", "score", "docid"], ascending=[True, False, False], kind="stable")
    ours_df = ours.to_pandas()
    assert list(zip(theirs["topic"], theirs["docid"], strict=True)) == list(
        zip(ours_df["query_id"], ours_df["doc_id"], strict=True)
    )
    np.testing.assert_allclose(ours_df["score"].to_numpy(), theirs["score"].to_numpy(), rtol=0, atol=1e-15)
    assert isinstance(theirs, pd.DataFrame)


def test_hash_table_ignores_chunking_and_slicing() -> None:
    t = pa.table({"doc_id": ["a", "b", "c"], "title": ["", None, "t"], "text": ["x", "y", "z"]})
    chunked = pa.concat_tables([t.slice(0, 1), t.slice(1, 2)])
    padded = pa.table({"doc_id": ["_", "a", "b", "c"], "title": ["", "", None, "t"], "text": ["_", "x", "y", "z"]})
    assert hash_table(t) == hash_table(chunked) == hash_table(padded.slice(1))
    assert hash_table(t) != hash_table(t.slice(0, 2))
    swapped = pa.table({"doc_id": ["a", "b", "c"], "title": ["", "", "t"], "text": ["x", "y", "z"]})
    assert hash_table(t) != hash_table(swapped)  # null title differs from empty title


def test_hash_dir_and_atomic_dir(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(b"123")
    (tmp_path / "m" / ".cache").mkdir()
    (tmp_path / "m" / ".cache" / "lock").write_text("x")
    before = hash_dir(tmp_path / "m")
    (tmp_path / "m" / ".cache" / "lock").write_text("changed")
    assert hash_dir(tmp_path / "m") == before
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "out") as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("crash")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "done").write_text("x")
    assert (tmp_path / "out" / "done").exists()


def test_cache_dir_default_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKBENCH_CACHE", raising=False)
    assert cache_dir() == Path.home() / ".cache" / "workbench"
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path


def test_missing_model_or_hub_id_fails_fast(tmp_path: Path) -> None:
    from workbench.retrieval.dense import resolve_model

    start = time.perf_counter()
    with pytest.raises(ProviderUnavailableError, match="does not exist"):
        resolve_model(tmp_path / "no-such-model")
    with pytest.raises(ProviderUnavailableError, match="never downloads"):
        resolve_model("BAAI/bge-small-en-v1.5")
    assert time.perf_counter() - start < 1.0


def test_detect_model_kind_reads_the_config(tmp_path: Path) -> None:
    cross, bi, old_cross, empty = (tmp_path / n for n in ("cross", "bi", "old", "empty"))
    for d in (cross, bi, old_cross, empty):
        d.mkdir()
    (cross / "config_sentence_transformers.json").write_text(json.dumps({"model_type": "CrossEncoder"}))
    (bi / "modules.json").write_text("[]")
    (old_cross / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    assert detect_model_kind(cross) == "cross-encoder"
    assert detect_model_kind(bi) == "bi-encoder"
    assert detect_model_kind(old_cross) == "cross-encoder"
    with pytest.raises(ProviderUnavailableError, match="not a model directory"):
        detect_model_kind(empty)


def test_shift_puts_reranked_scores_above_the_tail() -> None:
    tail = run_table([("q", "t1", 5.0), ("q", "t2", 4.0)])
    shifted = _shift_above_tail(pa.array(["q", "q", "r"]), np.array([0.2, 0.9, 0.1]), tail)
    assert shifted.tolist() == pytest.approx([6.0, 6.7, 0.1])  # min(head) = max(tail) + 1; r has no tail


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = ("torch", "jnius", "faiss", "pyserini", "sentence_transformers")
    code = (
        "import sys, workbench.retrieval.fuse, workbench.retrieval.cache;"
        "from workbench.retrieval.bm25 import bm25_search; from workbench.retrieval.dense import dense_search;"
        "from workbench.retrieval.fuse import fuse; from workbench.retrieval.rerank import rerank;"
        "assert callable(fuse) and callable(rerank), (fuse, rerank);"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_the_step_schemas_load_without_the_producers() -> None:
    """The CLI's parser reads the step schemas: importing them loads no producer and no columnar library."""
    heavy = ("numpy", "pyarrow", "duckdb", "workbench.retrieval.base", "workbench.retrieval.fuse")
    code = ("import sys, workbench.retrieval.steps;"
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
