#!/usr/bin/env python3
"""The floor under the two ingest targets of issue 6 that are not met: what the steps every design of ours must
take cost on their own, on the benchmark's files, next to the target.

    .venv/bin/python bench/floors.py            # 3 repetitions (medians), writes bench/FLOORS.md
    .venv/bin/python bench/floors.py --reps 5

Workload: the files `bench/run.py` generates (bench-data/msmarco, bench-data/dl; run that first). Each step is
timed alone, in this process (start-up in a child process), with DuckDB doing the work the fastest way we know:

- start-up: a child process that imports the CLI and exits (`workbench --version`);
- parse: DuckDB's parallel CSV reader into an in-memory table, typed columns only (no duplicate, tag, number or
  layout checks; the 20 DL files in one multi-file read instead of 20);
- Arrow: the columns scoring reads (query_id, doc_id, score) handed to Python;
- store: the parsed rows copied into the store's `run_rows` table in an on-disk store (the store's own schema),
  one INSERT and its COMMIT.

Their sum is a floor: it leaves out checking the file, trec_eval positions, the SHA-256 of the bytes, scoring and
storing per-query values. The bare load (`read_csv` into a table of an on-disk database, the issue's anchor) is
measured in the same run, as `bench/run.py` does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench-data"
_CLI = Path(sys.executable).with_name("workbench")
COLUMNS = ("{'qid': 'VARCHAR', 'q0': 'VARCHAR', 'docid': 'VARCHAR', 'rank': 'DOUBLE', 'score': 'DOUBLE', "
           "'tag': 'VARCHAR'}")
HASH = "0" * 64


def _files(paths: list[Path]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"


def _wall(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def start_up() -> float:
    return _wall(lambda: subprocess.run([str(_CLI), "--version"], check=True, capture_output=True))


def bare_load(paths: list[Path], tmp: Path) -> float:
    """The issue's anchor, as bench/run.py runs it: a child process, read_csv into tables of an on-disk database."""
    db = tmp / "bare.duckdb"
    db.unlink(missing_ok=True)
    code = ("import sys, duckdb\ncon = duckdb.connect(sys.argv[1])\n"
            "for i, run in enumerate(sys.argv[2:]):\n"
            "    con.execute(f\"CREATE TABLE run{i} AS SELECT * FROM read_csv('{run}')\")\ncon.close()\n")
    seconds = _wall(lambda: subprocess.run([sys.executable, "-c", code, str(db), *map(str, paths)], check=True))
    db.unlink(missing_ok=True)
    return seconds


def steps(paths: list[Path], tmp: Path) -> dict[str, float]:
    """parse, Arrow and store of `paths` (one read for all of them), each timed alone."""
    from workbench.store import Store

    store = tmp / "floor.duckdb"
    store.unlink(missing_ok=True)
    Store(store).ensure_schema(create=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    out = {}
    out["parse"] = _wall(lambda: con.execute(
        f"CREATE TABLE parsed AS SELECT qid AS query_id, docid AS doc_id, score, rank::BIGINT AS rank, "
        f"rank::INTEGER AS position "
        f"FROM read_csv({_files(paths)}, delim=' ', header=false, quote='', escape='', columns={COLUMNS}, "
        f"auto_detect=false, parallel=true)"))
    out["arrow"] = _wall(lambda: con.sql("SELECT query_id, doc_id, score FROM parsed").to_arrow_table())
    con.execute(f"ATTACH '{store}' AS s")

    def copy() -> None:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"INSERT INTO s.run_rows SELECT '{HASH}', query_id, doc_id, score, rank, position FROM parsed")
        con.execute("COMMIT")

    out["store"] = _wall(copy)
    con.close()
    store.unlink(missing_ok=True)
    return out


def measure(name: str, paths: list[Path], reps: int, tmp: Path) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    for _ in range(reps):
        got = {"start-up": start_up(), **steps(paths, tmp), "bare": bare_load(paths, tmp)}
        for k, v in got.items():
            samples.setdefault(k, []).append(v)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"[floors] {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in med.items()), file=sys.stderr)
    return med


def table(ms: dict[str, float], dl: dict[str, float], reps: int) -> str:
    def floor(m: dict[str, float]) -> float:
        return m["start-up"] + m["parse"] + m["arrow"] + m["store"]

    ms_target = 1.5 * ms["bare"]
    rows = [
        ("CLI start-up (`workbench --version`, a child process)", ms["start-up"], dl["start-up"]),
        ("parse into memory, typed columns, no checks", ms["parse"], dl["parse"]),
        ("query_id, doc_id, score to Arrow (what scoring reads)", ms["arrow"], dl["arrow"]),
        ("copy into the store's `run_rows` on disk, INSERT + COMMIT", ms["store"], dl["store"]),
    ]
    lines = [f"Median of {reps} repetitions; machine: {os.cpu_count()} cores, load average at the end "
             f"{os.getloadavg()[0]:.1f}.", "",
             "| step | 7M-line run, s | 20 DL runs, s |", "|---|---:|---:|"]
    lines += [f"| {label} | {a:.2f} | {b:.2f} |" for label, a, b in rows]
    lines += [
        f"| **floor** (sum; before checks, positions, hashing, scoring, storing scores) | **{floor(ms):.2f}** "
        f"| **{floor(dl):.2f}** |",
        f"| DuckDB bare load (read_csv into an on-disk table, child process) | {ms['bare']:.2f} | {dl['bare']:.2f} |",
        f"| target | <= {ms_target:.2f} (1.5x bare load) | <= 1.00 |",
        f"| floor / target | {floor(ms) / ms_target:.2f} | {floor(dl) / 1.0:.2f} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--write", type=Path, default=ROOT / "bench" / "FLOORS.md", help="where the table goes")
    args = p.parse_args(argv)
    ms_run = DATA / "msmarco" / "runs" / "run_00.txt"
    dl_runs = sorted((DATA / "dl" / "runs").glob("*.txt"))
    if not ms_run.exists() or len(dl_runs) != 20:
        p.error("no workload in bench-data/: run bench/run.py first (it generates it)")
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        ms = measure("7M-line run", [ms_run], args.reps, Path(tmp))
        dl = measure("20 DL runs", dl_runs, args.reps, Path(tmp))
    text = table(ms, dl, args.reps)
    print(text)
    args.write.write_text("# Floors under the unmet ingest targets (issue 6)\n\nWritten by `bench/floors.py` "
                          "(see its docstring for what each step is).\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
