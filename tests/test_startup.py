"""Start-up (issue 21): what `workbench --help` and `workbench eval` load, and the Arrow/NumPy checks that let
eval run without DuckDB give the answers of the DuckDB queries they replaced. No timing here (bench/ times)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from workbench.errors import QrelsFormatError, RunFormatError
from workbench.io import _text
from workbench.io.qrels import read_qrels
from workbench.io.runs import SMALL_RUN_BYTES, _careful, _fast, read_run

HEAVY = ("numpy", "pyarrow", "duckdb", "rich", "pandas", "yaml", "scipy", "streamlit", "torch")


def _loaded_after(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    """Run the CLI's main() in a fresh interpreter started as the console script is; (exit code, which HEAVY
    modules it loaded)."""
    code = ("import sys; sys.argv[0] = 'workbench'; from workbench.cli.main import main; rc = main(sys.argv[1:]); "
            f"print(rc, ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd)
    rc, _, mods = proc.stderr.strip().splitlines()[-1].partition(" ")
    return int(rc), [m for m in mods.split(",") if m]


def test_help_and_usage_errors_load_nothing_heavy(tmp_path):
    assert _loaded_after(["--help"], tmp_path) == (0, [])
    assert _loaded_after(["ingest", "--help"], tmp_path) == (0, [])
    assert _loaded_after(["retrieve", "bm25", "--help"], tmp_path) == (0, [])
    assert _loaded_after(["evaluate", "--bogus"], tmp_path) == (2, [])


def test_eval_of_small_files_loads_neither_duckdb_nor_pandas_nor_rich(tmp_path):
    (tmp_path / "q.txt").write_text("1 0 a 2\n1 0 b 0\n2 0 c 1\n")
    (tmp_path / "r.trec").write_text("1 Q0 a 1 2.0 t\n1 Q0 b 2 1.0 t\n2 Q0 c 1 0.5 t\n")
    rc, loaded = _loaded_after(["eval", "-m", "map", "q.txt", "r.trec"], tmp_path)
    assert rc == 0
    assert {"numpy", "pyarrow"} <= set(loaded)  # what scoring needs
    assert not {"duckdb", "pandas", "rich", "yaml", "scipy"} & set(loaded)


def test_an_error_still_prints_one_line(tmp_path):
    (tmp_path / "q.txt").write_text("1 0 a 2\n")
    (tmp_path / "r.trec").write_text("1 Q0 a 1 x t\n")
    proc = subprocess.run([sys.executable, "-m", "workbench.cli.main", "eval", "-m", "map", "q.txt", "r.trec"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: r.trec:1: score must be a number, got 'x'")
    assert len(proc.stderr.strip().splitlines()) == 1


def _first_of_pairs_by_hand(a: list[str], b: list[str]) -> list[int]:
    seen: dict[tuple[str, str], int] = {}
    return [seen.setdefault(pair, i) for i, pair in enumerate(zip(a, b, strict=True))]


def test_first_of_pairs_equals_a_dictionary_by_hand():
    rng = random.Random(21)
    repeats = 0
    for _ in range(300):
        n = rng.randint(0, 40)
        a = [rng.choice("xyz") for _ in range(n)]
        b = [rng.choice(["1", "2", "3", "10", "x"]) for _ in range(n)]
        expected = _first_of_pairs_by_hand(a, b)
        chunked = pa.chunked_array([a[: n // 2], a[n // 2:]], pa.string())
        got = _text.first_of_pairs(chunked, pa.array(b, pa.string()))
        if got is None:
            assert expected == list(range(n))
        else:
            repeats += 1
            assert got.tolist() == expected
    assert repeats > 100


def test_qrels_repeats_collapse_and_a_regrade_names_both_lines(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("1 0 a 1\n1 0 b 0\n# note\n1 0 a 1\n2 0 a 2\n1 0 b 0\n")
    assert read_qrels(path).to_pylist() == [
        {"query_id": "1", "doc_id": "a", "relevance": 1},
        {"query_id": "1", "doc_id": "b", "relevance": 0},
        {"query_id": "2", "doc_id": "a", "relevance": 2},
    ]
    path.write_text("1 0 a 1\n1 0 b 0\n1 0 a 1\n2 0 a 2\n1 0 b 3\n1 0 a 2\n")
    with pytest.raises(QrelsFormatError) as err:
        read_qrels(path)
    assert str(err.value) == f"{path}:5: doc_id b judged twice for query 1 with different grades (0 at line 2, 3 here)"


def test_small_runs_take_the_careful_path_with_the_fast_paths_answer(tmp_path):
    path = tmp_path / "r.trec"
    lines = [f"{q} Q0 d{d} {r} {10 - r * 0.5} {'b' if (q, d) == (2, 3) else 'a'}\n"
             for q in (1, 2) for r, d in enumerate(range(5), start=1)]
    path.write_text("".join(lines))
    assert path.stat().st_size < SMALL_RUN_BYTES
    fast, careful, read = _fast(path), _careful(path, "utf-8"), read_run(path)
    assert fast is not None
    for parsed in (careful, read):
        assert parsed.table.equals(fast.table)
        assert (parsed.sha256, parsed.run_tags, parsed.n_lines, parsed.warnings) == \
               (fast.sha256, fast.run_tags, fast.n_lines, fast.warnings)
    assert read.run_tags == ("a", "b")
    path.write_text("".join(lines) + "1 Q0 d3 9 0.1 a\n")
    with pytest.raises(RunFormatError) as err:
        read_run(path)
    assert str(err.value) == (f"{path}:11: doc_id d3 appears twice for query 1 (first at line 4); "
                              "trec_eval aborts on duplicates")


def test_the_judged_rows_lookup_and_the_hash_join_agree(monkeypatch):
    """Small runs find their judged rows by a lookup (no Acero), big ones by Arrow's join: same pairs, same
    per-query values (checked on a DL 2020 run and its qrels, forcing each way)."""
    import numpy as np

    from workbench.scoring import evaluate, fast

    root = Path(__file__).resolve().parents[1]
    run = read_run(root / "runs" / "dl20" / "bm25.trec").table
    qrels = read_qrels(root / "data" / "trec-dl-2020" / "qrels.dl20-passage.txt")
    lookup = fast._judged_rows_by_lookup(run["query_id"].combine_chunks(), run["doc_id"].combine_chunks(), qrels)
    monkeypatch.setattr(fast, "JOIN_ROWS", 0)
    joined = fast._judged_rows(run["query_id"].combine_chunks(), run["doc_id"].combine_chunks(), qrels)
    order = np.argsort(joined[0])
    assert len(lookup[0]) > 100
    assert lookup[0].tolist() == joined[0][order].tolist()
    assert lookup[1].tolist() == joined[1][order].tolist()
    measures = ["nDCG@10", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@1000"]
    by_join = evaluate(run, qrels, measures)
    monkeypatch.setattr(fast, "JOIN_ROWS", 10**9)
    assert evaluate(run, qrels, measures).equals(by_join)


def test_the_careful_paths_two_duplicate_checks_agree(monkeypatch, tmp_path):
    """Small tables: dictionary codes; from LARGE_ROWS on: DuckDB's pair hashes. Same first repeat either way."""
    from workbench.io import runs

    rng = random.Random(5)
    for k in range(40):
        rows = [(f"q{rng.randint(1, 3)}", f"d{rng.randint(1, 12)}") for _ in range(rng.randint(1, 30))]
        raw = pa.table({"qid": [q for q, _ in rows], "docid": [d for _, d in rows]})
        small = runs._first_repeat(raw)
        monkeypatch.setattr(runs, "LARGE_ROWS", 0)
        large = runs._first_repeat(raw)
        monkeypatch.setattr(runs, "LARGE_ROWS", 1_000_000)
        seen: dict[tuple[str, str], int] = {}
        by_hand = next(((i, seen[r]) for i, r in enumerate(rows) if seen.setdefault(r, i) != i), None)
        assert small == large == by_hand, (k, rows)


def test_one_command_stores_each_content_once_in_file_order(cli, db, tmp_path):
    """A batch of files goes to the store in one INSERT: two names for the same bytes share one copy of the rows,
    and every run's rows come back in file order with trec_eval positions."""
    import duckdb

    (tmp_path / "q.txt").write_text("".join(f"{q} 0 d{d} {d % 3}\n" for q in (1, 2) for d in range(6)))
    body = "".join(f"{q} Q0 d{d} {k + 1} {5 - k // 2} t\n" for q in (2, 1) for k, d in enumerate((3, 0, 5, 1)))
    other = "1 Q0 d4 1 2.0 u\n1 Q0 d2 2 1.0 u\n"
    for name, text in (("a.trec", body), ("b.trec", body), ("c.trec", other)):
        (tmp_path / name).write_text(text)
    assert cli("collection", "add", "c", "--qrels", tmp_path / "q.txt").code == 0
    got = cli("ingest", "-c", "c", *(tmp_path / n for n in ("a.trec", "b.trec", "c.trec")), "--json").json()
    assert [r["status"] for r in got] == ["added"] * 3
    with duckdb.connect(str(db), read_only=True) as con:
        hashes = dict(con.execute("SELECT name, run_hash FROM runs").fetchall())
        assert hashes["a"] == hashes["b"] != hashes["c"]
        rows = con.execute("SELECT query_id, doc_id, position FROM run_rows WHERE run_hash = ?",
                           [hashes["a"]]).fetchall()
        tops = con.execute("SELECT count(*) FROM run_top_rows").fetchone()[0]
        total = con.execute("SELECT count(*) FROM run_rows").fetchone()[0]
    # file order; ties (5 5, 4 4) in doc_id descending: d3 before d0, d5 before d1
    assert rows == [("2", "d3", 1), ("2", "d0", 2), ("2", "d5", 3), ("2", "d1", 4),
                    ("1", "d3", 1), ("1", "d0", 2), ("1", "d5", 3), ("1", "d1", 4)]
    assert total == tops == 10  # one copy of a/b's 8 rows, c's 2
