#!/usr/bin/env python3
"""Benchmark (issue 21): the workbench against C trec_eval builds and ir_measures, same files, alternating.

    .venv/bin/python bench/vs_trec_eval.py --trec-eval REF --trec-eval O3            # 20 DL runs, 3 rounds
    .venv/bin/python bench/vs_trec_eval.py --trec-eval REF --msmarco --reps 3        # + the 7M-line run

trec_eval is never built here; build it from the shared source (../shared/tools, see its README):
`make` in a copy of the source gives the reference build (its own Makefile's flags); for the -O3 build,
`make CFLAGS='-I. -O3 -w -DVERSIONID=\\"10.0-O3\\"'` in a second copy. Each --trec-eval is one column of tools.

Workloads (bench/gen_data.py, as bench/run.py generates them into bench-data/):
- dl: 20 TREC DL-scale runs (43 queries x 1,000): `workbench ingest -c dl RUN... --measures` (one command:
  parse, check, hash, store with trec_eval positions, score, store per-query values) into a fresh store whose
  collection was added untimed, against a loop of one trec_eval process per run, and ir_measures (pytrec_eval)
  scoring the 20 runs in one Python process.
- msmarco (with --msmarco): one 6.98M-line run, the same three tools.
- the floor: the bare minimum DuckDB pipeline a store of runs needs, in a child process like the others: Python
  starts, imports duckdb, one read_csv over the run files (typed columns, a filename column, no checks, no
  positions, no hash, no scoring) and CREATE TABLE in an on-disk database. Where a target sits below this floor,
  no design that keeps the runs in a DuckDB file reaches it.
Every round runs every tool once, in an order that rotates from round to round, so load from other processes hits
all alike; the table shows median wall and CPU seconds (user + sys of the children; DuckDB's threads included),
peak RSS, and the ratio to each trec_eval build (> 1: the workbench is faster). The same measures for all tools:
nDCG@10, AP, RR@10, R@1000 (trec_eval: ndcg_cut.10, map, recip_rank, recall.1000).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import IR_MEASURES, MEASURES, PY, Sample, ensure_data, run_proc, run_seq, wb

_STORES = itertools.count()
TREC_NAMES = ["ndcg_cut.10", "map", "recip_rank", "recall.1000"]


def trec_eval_loop(binary: str, qrels: Path, runs: list[Path]) -> Sample:
    return run_seq([[binary, *(a for m in TREC_NAMES for a in ("-m", m)), str(qrels), str(r)] for r in runs])


def workbench_ingest(tmp: Path, collection: str, qrels: Path, runs: list[Path]) -> Sample:
    db = tmp / f"s{next(_STORES)}.duckdb"
    run_proc(wb(db, "collection", "add", collection, "--qrels", qrels))  # untimed
    sample = run_seq([wb(db, "ingest", "-c", collection, *runs, "--measures", *MEASURES)])
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    return sample


FLOOR = """
import sys, duckdb
db, runs = sys.argv[1], sys.argv[2:]
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
con.execute("CREATE TABLE run_rows AS SELECT * FROM read_csv(?, delim=' ', header=false, quote='', escape='', "
            "columns={'qid': 'VARCHAR', 'q0': 'VARCHAR', 'docid': 'VARCHAR', 'rank': 'BIGINT', 'score': 'DOUBLE', "
            "'tag': 'VARCHAR'}, auto_detect=false, filename=true)", [runs])
con.close()
"""
FLOOR_TOOL = "floor: python + duckdb, one read_csv into a file"


def duckdb_floor(tmp: Path, runs: list[Path]) -> Sample:
    db = tmp / f"floor{next(_STORES)}.duckdb"
    sample = run_seq([[PY, "-c", FLOOR, db, *runs]])
    db.unlink(missing_ok=True)
    return sample


def _labels(binaries: list[str]) -> dict[str, str]:
    """A column name per trec_eval build: its version line (`-v`: "10.0", "10.0-O3"), else its path; two builds in
    folders of the same name used to share one label, and one of them vanished from the table."""
    if len(binaries) == 1:
        return {binaries[0]: "trec_eval"}
    out: dict[str, str] = {}
    for b in binaries:
        done = subprocess.run([b, "-v"], capture_output=True, text=True)
        version = (done.stdout + done.stderr).strip().removeprefix("trec_eval version ").splitlines()
        label = f"trec_eval {version[0]}" if version and version[0] else f"trec_eval {b}"
        out[b] = label if label not in out.values() else f"trec_eval {b}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trec-eval", action="append", default=[], metavar="PATH", required=True,
                    help="a built trec_eval binary (repeatable: the reference build, an -O3 build)")
    ap.add_argument("--reps", type=int, default=3, help="alternating rounds (default: 3)")
    ap.add_argument("--msmarco", action="store_true", help="also the 7M-line run (minutes per round)")
    args = ap.parse_args()
    data = ensure_data(quick=False) if args.msmarco else {"dl": ensure_dl()}
    workloads = {"dl": (data["dl"] / "qrels.txt", sorted((data["dl"] / "runs").glob("run_*.txt")))}
    if args.msmarco:
        workloads["msmarco"] = (data["ms"] / "qrels.txt", [data["ms"] / "runs" / "run_00.txt"])
    labels = _labels(args.trec_eval)
    with tempfile.TemporaryDirectory() as tmp:
        for workload, (qrels, runs) in workloads.items():
            tools = {
                "workbench ingest --measures": lambda q=qrels, r=runs, w=workload: workbench_ingest(Path(tmp), w, q, r),
                "ir_measures (one process)": lambda q=qrels, r=runs: run_seq([[PY, "-c", IR_MEASURES, q, *r]]),
                FLOOR_TOOL: lambda r=runs: duckdb_floor(Path(tmp), r),
                **{labels[b]: (lambda b=b, q=qrels, r=runs: trec_eval_loop(b, q, r)) for b in args.trec_eval},
            }
            names = list(tools)
            samples: dict[str, list[Sample]] = {t: [] for t in names}
            for rep in range(args.reps):
                for name in names[rep % len(names):] + names[:rep % len(names)]:
                    samples[name].append(tools[name]())
            report(workload, len(runs), samples, labels.values(), args.reps)
    return 0


def ensure_dl() -> Path:
    dl = Path(__file__).resolve().parents[1] / "bench-data" / "dl"
    if not (dl / "manifest.json").exists():
        import subprocess

        subprocess.run([PY, str(Path(__file__).with_name("gen_data.py")), "--preset", "dl", "--out", str(dl),
                        "--quiet"], check=True)
    return dl


def report(workload: str, n_runs: int, samples: dict[str, list[Sample]], builds, reps: int) -> None:
    med = {t: (statistics.median(s.wall for s in v), statistics.median(s.cpu for s in v), max(s.rss_mb for s in v))
           for t, v in samples.items()}
    print(f"\n{workload}: {n_runs} run file(s); medians of {reps} alternating rounds; {platform.node()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    heads = "".join(f" wall vs {b} | CPU vs {b} |" for b in builds)
    print(f"| tool | wall s | CPU s | peak RSS MB |{heads}")
    print("|---|---:|---:|---:|" + "---:|---:|" * len(list(builds)))
    for tool, (wall, cpu, rss) in med.items():
        ratios = "".join(f" {med[b][0] / wall:.2f}x | {med[b][1] / cpu:.2f}x |" for b in builds)
        print(f"| {tool} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |{ratios}")
    targets(workload, med, list(builds))


def targets(workload: str, med: dict[str, tuple[float, float, float]], builds: list[str]) -> None:
    """Issue 21's targets against the first trec_eval build, next to the workbench and the floor."""
    ref_wall, ref_cpu = med[builds[0]][0], med[builds[0]][1]
    wb_wall, wb_cpu = med["workbench ingest --measures"][:2]
    floor_wall, floor_cpu = med[FLOOR_TOOL][:2]
    if workload == "dl":
        goal = ref_wall / 1.5
        print(f"\ntarget (vs {builds[0]}): wall <= {goal:.2f} s (1.5x faster than the loop); workbench {wb_wall:.2f} s "
              f"({'met' if wb_wall <= goal else 'NOT met'}); floor {floor_wall:.2f} s wall, {floor_cpu:.2f} CPU s "
              f"({'below' if floor_wall > goal else 'within'} the target)")
    else:
        goal, cpu_goal = ref_wall / 2.5, 0.75 * ref_cpu
        print(f"\ntarget (vs {builds[0]}): wall <= {goal:.2f} s (2.5x faster), CPU <= {cpu_goal:.2f} s (0.75x); "
              f"workbench {wb_wall:.2f} s, {wb_cpu:.2f} CPU s (wall {'met' if wb_wall <= goal else 'NOT met'}, "
              f"CPU {'met' if wb_cpu <= cpu_goal else 'NOT met'}); "
              f"floor {floor_wall:.2f} s wall, {floor_cpu:.2f} CPU s")


if __name__ == "__main__":
    sys.exit(main())
