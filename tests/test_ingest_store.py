"""The ingest write path: a batch of parsed runs goes to the store as Arrow (`store.put_runs`), one INSERT per batch.

What is stored is checked against the files themselves and an independent ordering (score descending, then doc_id
descending within a query, as trec_eval sorts), for a batch that mixes a file big enough for the DuckDB fast path
with small ones, whose query blocks come out of order and whose scores tie.
"""

from __future__ import annotations

import random
from pathlib import Path

import duckdb

from workbench.io.runs import SMALL_RUN_BYTES
from workbench.store.connection import TOP_DEPTH


def _write_run(path: Path, queries: list[str], depth: int, tag: str, rng: random.Random) -> list[tuple]:
    """A run whose query blocks come in the given order, with tied scores and a few rows out of score order;
    returns its rows (query_id, doc_id, score) in file order."""
    rows = []
    for q in queries:
        scores = sorted((round(rng.uniform(0, 30), 1) for _ in range(depth)), reverse=True)
        for k in rng.sample(range(depth - 1), depth // 50):  # a few neighbours swapped: the rank column disagrees
            scores[k], scores[k + 1] = scores[k + 1], scores[k]
        docs = rng.sample(range(10_000_000), depth)
        rows += [(q, f"D{d}", s) for d, s in zip(docs, scores, strict=True)]
    path.write_text("".join(f"{q} Q0 {d} {i % depth + 1} {s} {tag}\n" for i, (q, d, s) in enumerate(rows)))
    return rows


def _positions(rows: list[tuple]) -> list[int]:
    """trec_eval's place of each row within its query: score descending, ties by doc_id descending."""
    by_query: dict[str, list[int]] = {}
    for i, (q, _, _) in enumerate(rows):
        by_query.setdefault(q, []).append(i)
    out = [0] * len(rows)
    for members in by_query.values():
        for place, i in enumerate(sorted(members, key=lambda i: (rows[i][2], rows[i][1]), reverse=True), 1):
            out[i] = place
    return out


def test_a_batch_is_stored_in_file_order_with_trec_eval_positions(cli, db, tmp_path):
    rng = random.Random(18)
    big_queries = [str(q) for q in rng.sample(range(1000, 2000), 300)]  # 300 x 1,000 lines: over SMALL_RUN_BYTES
    files = {"big": _write_run(tmp_path / "big.trec", big_queries, 1000, "big", rng),
             "small": _write_run(tmp_path / "small.trec", ["7", "3", "12"], 40, "small", rng)}
    assert (tmp_path / "big.trec").stat().st_size > SMALL_RUN_BYTES  # the parser's fast path, several chunks
    (tmp_path / "same.trec").write_bytes((tmp_path / "small.trec").read_bytes())  # second name, same bytes
    files["same"] = files["small"]
    (tmp_path / "q.txt").write_text("".join(f"{q} 0 {d} 1\n" for q, d, _ in files["small"][::7]))
    assert cli("collection", "add", "c", "--qrels", tmp_path / "q.txt").code == 0

    res = cli("ingest", "-c", "c", *(tmp_path / f"{n}.trec" for n in files), "-m", "P@5", "--json")
    assert res.code == 0, res.err
    assert [r["status"] for r in res.json()] == ["added"] * 3

    with duckdb.connect(str(db), read_only=True) as con:
        hashes = dict(con.execute("SELECT name, run_hash FROM runs").fetchall())
        assert hashes["small"] == hashes["same"]
        for name, rows in files.items():
            stored = con.execute("SELECT query_id, doc_id, score, rank, position FROM run_rows WHERE run_hash = ? "
                                 "ORDER BY rowid", [hashes[name]]).fetchall()
            top = con.execute("SELECT query_id, doc_id, score, rank, position FROM run_top_rows WHERE run_hash = ? "
                              "ORDER BY rowid", [hashes[name]]).fetchall()
            assert [r[:3] for r in stored] == rows, name  # file order, values as written
            assert [r[4] for r in stored] == _positions(rows), name
            assert top == [r for r in stored if r[4] <= TOP_DEPTH], name  # same rows, same order
        assert con.execute("SELECT count(*) FROM run_rows").fetchone()[0] == 300 * 1000 + 3 * 40  # one copy
        sets = con.execute("SELECT run_hash, measure, count(*) FROM score_sets GROUP BY ALL").fetchall()
        assert sorted(sets) == sorted({(hashes[n], "P@5", 1) for n in files})  # same bytes scored once


def test_scores_stored_with_a_batch_only_where_the_store_lacks_them(cli, db, tmp_path):
    """Bytes already scored under another name keep their score set; the measures they lack are added, once."""
    rng = random.Random(5)
    rows = _write_run(tmp_path / "a.trec", ["1", "2"], 30, "a", rng)
    _write_run(tmp_path / "c.trec", ["1", "2"], 30, "c", rng)
    (tmp_path / "b.trec").write_bytes((tmp_path / "a.trec").read_bytes())
    (tmp_path / "q.txt").write_text("".join(f"{q} 0 {d} {i % 3}\n" for i, (q, d, _) in enumerate(rows[::3])))
    assert cli("collection", "add", "c", "--qrels", tmp_path / "q.txt").code == 0
    assert cli("ingest", "-c", "c", tmp_path / "a.trec", "-m", "P@5").code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        first = con.execute("SELECT run_hash, measure, mean, total FROM score_sets").fetchall()

    got = cli("ingest", "-c", "c", tmp_path / "b.trec", tmp_path / "c.trec", "-m", "P@5", "AP", "--json").json()
    assert [r["status"] for r in got] == ["added", "added"]
    assert got[0]["scores"]["P@5"] == first[0][2]
    with duckdb.connect(str(db), read_only=True) as con:
        sets = con.execute("SELECT run_hash, measure, mean, total FROM score_sets ORDER BY ALL").fetchall()
        per_query = con.execute("SELECT run_hash, measure, count(*) FROM scores GROUP BY ALL ORDER BY ALL").fetchall()
    a_hash = first[0][0]
    assert [s for s in sets if s[0] == a_hash and s[1] == "P@5"] == first  # kept, not written again
    assert {(s[0], s[1]) for s in sets} == {(h, m) for h in {a_hash, got[1]["run_hash"]} for m in ("AP", "P@5")}
    assert all(n == 2 for *_, n in per_query)  # two queries, one value each: nothing doubled
