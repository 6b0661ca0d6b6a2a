"""Shared helpers for the reliability tests (issue 7); holds no tests itself.

A *base store* is what every reliability test starts from: a store that already holds a collection (qrels,
topics, documents), two runs and their scores on the default measures, built through the real CLI. Tests
copy it, do something bad to the copy and compare `conftest.snapshot` before and after.

`store_problems` states the store's consistency invariant (what "no partial run is visible" means):
  * every `runs` row has exactly `n_rows` rows in `run_rows` under its `run_hash` (no run without its rows,
    no half-inserted rows), and `n_queries` distinct query ids there;
  * every `run_rows` hash is referenced by some `runs` row (no orphan rows from an aborted ingest);
  * every collection has exactly `n_judgments` qrels, `n_topics` topics and `n_docs` documents, and no
    qrels/topics/documents belong to an unknown collection;
  * every `score_sets` key has exactly `n_queries` rows in `scores` (a score write is all-or-nothing) and
    every scores row belongs to a score set;
  * every run's rows have positions 1..n within each query (trec_eval order, computed at ingest);
  * the schema version is recorded.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKBENCH = ROOT / ".venv" / "bin" / "workbench"
QUERIES = [f"{q}" for q in range(101, 106)]
DOCS = [f"d{i}" for i in range(1, 31)]


def workbench_exe() -> list[str]:
    """The installed console script (what a user runs), else `python -m workbench.cli.main`."""
    if WORKBENCH.exists():
        return [str(WORKBENCH)]
    return [sys.executable, "-m", "workbench.cli.main"]


def run_lines(queries: list[str], n: int, tag: str, seed: int) -> str:
    """A small valid TREC run: n docs per query, distinct scores, rank = position."""
    out = []
    for qi, q in enumerate(queries):
        docs = DOCS[(seed + qi) % 7 :][:n]
        for r, d in enumerate(docs, 1):
            out.append(f"{q} Q0 {d} {r} {(n - r + 1) * 1.25 + seed / 10:.4f} {tag}\n")
    return "".join(out)


def write_base_inputs(folder: Path) -> dict[str, Path]:
    """qrels (graded TREC), topics (TSV), documents (TSV) and two runs (plain and gzipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    qrels = "".join(f"{q} 0 {d} {(i * 7 + j) % 4}\n" for i, q in enumerate(QUERIES) for j, d in enumerate(DOCS[:12]))
    files = {
        "qrels": folder / "qrels.txt",
        "topics": folder / "topics.tsv",
        "docs": folder / "docs.tsv",
        "bm25": folder / "bm25.trec",
        "dense": folder / "dense.trec.gz",
    }
    files["qrels"].write_text(qrels)
    files["topics"].write_text("".join(f"{q}\ttopic number {q}\n" for q in QUERIES))
    files["docs"].write_text("".join(f"{d}\tthe text of document {d}\n" for d in DOCS))
    files["bm25"].write_text(run_lines(QUERIES, 10, "bm25", 1))
    files["dense"].write_bytes(gzip.compress(run_lines(QUERIES, 10, "dense", 4).encode(), mtime=0))
    return files


def cli_main(db: Path, *args) -> int:
    from workbench.cli.main import main

    return main(["--db", str(db), *map(str, args)])


def make_base_store(folder: Path) -> tuple[Path, dict[str, Path]]:
    """Build the base store through the CLI entry point: collection `base`, runs bm25 and dense, scored."""
    files = write_base_inputs(folder / "inputs")
    db = folder / "base.duckdb"
    assert cli_main(db, "collection", "add", "base", "--qrels", files["qrels"], "--topics", files["topics"],
                    "--docs", files["docs"]) == 0
    assert cli_main(db, "ingest", "-c", "base", files["bm25"], files["dense"], "--kind", "sparse") == 0
    assert cli_main(db, "evaluate", "-c", "base") == 0
    assert not Path(str(db) + ".wal").exists()
    assert store_problems(db) == []
    return db, files


def copy_store(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
        if Path(str(src) + suffix).exists():
            shutil.copyfile(str(src) + suffix, str(dst) + suffix)
    return dst


def store_problems(path: Path) -> list[str]:
    """Violations of the store invariant (see the module docstring); [] when consistent."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        def rows(sql: str) -> list[tuple]:
            return con.execute(sql).fetchall()

        from workbench.store.connection import SCHEMA_VERSION

        problems = []
        if rows("SELECT value FROM meta WHERE key = 'schema_version'") != [(SCHEMA_VERSION,)]:
            problems.append("schema version missing")
        for h, q in rows("""SELECT run_hash, query_id FROM run_rows GROUP BY ALL
                            HAVING min(position) != 1 OR max(position) != count(*)
                                OR count(DISTINCT position) != count(*) LIMIT 3"""):
            problems.append(f"run rows {h[:12]} query {q}: positions are not 1..n")
        for name, h, n_rows, n_rr, n_q, n_q_rr in rows(
            """SELECT r.name, r.run_hash, r.n_rows, count(rr.run_hash), r.n_queries, count(DISTINCT rr.query_id)
               FROM runs r LEFT JOIN run_rows rr USING (run_hash) GROUP BY ALL"""
        ):
            if n_rows != n_rr or n_q != n_q_rr:
                problems.append(f"run {name} ({h[:12]}) declares {n_rows} rows/{n_q} queries, has {n_rr}/{n_q_rr}")
        for (h,) in rows("SELECT DISTINCT run_hash FROM run_rows WHERE run_hash NOT IN (SELECT run_hash FROM runs)"):
            problems.append(f"orphan run_rows under {h[:12]}")
        from workbench.store.connection import TOP_DEPTH

        for side, (h,) in [("missing from", r) for r in rows(
                f"""SELECT DISTINCT run_hash FROM (SELECT * FROM run_rows WHERE position <= {TOP_DEPTH}
                                                  EXCEPT ALL SELECT * FROM run_top_rows)""")] + [
                ("extra in", r) for r in rows(f"""SELECT DISTINCT run_hash FROM (SELECT * FROM run_top_rows
                    EXCEPT ALL SELECT * FROM run_rows WHERE position <= {TOP_DEPTH})""")]:
            problems.append(f"top rows of {h[:12]} {side} run_top_rows")
        for name, nj, jq, nt, jt, nd, jd in rows(
            """SELECT c.name, c.n_judgments,
                      (SELECT count(*) FROM qrels q WHERE q.collection = c.name), c.n_topics,
                      (SELECT count(*) FROM topics t WHERE t.collection = c.name), c.n_docs,
                      (SELECT count(*) FROM documents d WHERE d.collection = c.name)
               FROM collections c"""
        ):
            if (nj, nt, nd) != (jq, jt, jd):
                problems.append(f"collection {name} declares {(nj, nt, nd)} rows, has {(jq, jt, jd)}")
        for table in ("qrels", "topics", "documents"):
            (n,) = rows(f"SELECT count(*) FROM {table} WHERE collection NOT IN (SELECT name FROM collections)")[0]
            if n:
                problems.append(f"{n} {table} rows of no collection")
        (n,) = rows("SELECT count(*) FROM runs WHERE collection NOT IN (SELECT name FROM collections)")[0]
        if n:
            problems.append(f"{n} runs of no collection")
        for key in rows(
            """SELECT ss.run_hash, ss.measure, ss.n_queries, count(s.query_id) FROM score_sets ss
               LEFT JOIN scores s USING (run_hash, qrels_hash, measure, semantics, evaluator)
               GROUP BY ALL HAVING ss.n_queries <> count(s.query_id)"""
        ):
            problems.append(f"score set {key} is incomplete")
        (n,) = rows(
            """SELECT count(*) FROM scores s ANTI JOIN score_sets ss
               USING (run_hash, qrels_hash, measure, semantics, evaluator)"""
        )[0]
        if n:
            problems.append(f"{n} score rows outside any score set")
        return problems
    finally:
        con.close()


def without_run(snap: dict, name: str, run_hash: str | None) -> dict:
    """A snapshot with one run (its runs row, its run_rows and run_top_rows) taken out."""
    out = dict(snap)
    out["runs"] = [r for r in snap["runs"] if r[1] != name]
    if run_hash is not None:
        for table in ("run_rows", "run_top_rows"):
            out[table] = [r for r in snap[table] if r[0] != run_hash]
    return out


def popen_cli(db: Path, *args, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [*workbench_exe(), "--db", str(db), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kw,
    )


def run_cli(db: Path, *args, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*workbench_exe(), "--db", str(db), *map(str, args)],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout,
    )
