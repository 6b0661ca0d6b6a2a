#!/usr/bin/env python3
"""Benchmark: `workbench eval QRELS RUN` (no store) against the ir_measures CLI and C trec_eval, same files.

    .venv/bin/python bench/eval_quick.py                                   # DL 2020 bm25, 5 alternating rounds
    .venv/bin/python bench/eval_quick.py --trec-eval /path/to/trec_eval    # or TREC_EVAL=/path/to/trec_eval
    .venv/bin/python bench/eval_quick.py --qrels Q --run R --reps 9

Each round runs every tool once, in an order that rotates from round to round, so load from other processes
hits all alike; the table shows median wall and CPU seconds (user + sys of the child) and the ratio to
`workbench eval`. The same four measures for every tool (trec_eval's names; ir-measures' spelling for its CLI,
with rel=2 where trec_eval gets -l 2): ndcg_cut.10, map, recip_rank, recall.1000, trec_eval -c semantics. The
`all` values of every tool are compared at 4 decimals before anything is timed. trec_eval is never built here:
give a built binary (bench/run.py and the README say how to build trec_eval 10.0 from ../shared/tools).
Targets (issue 21): `workbench eval` on one DL run <= 0.3 s, `workbench --help` <= 0.15 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
_SCRIPT = Path(PY).with_name("workbench")
WB = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "workbench.cli.main"]
TREC_NAMES = ["ndcg_cut.10", "map", "recip_rank", "recall.1000"]
IR_MEASURES = ["nDCG@10", "AP(rel=2)", "RR(rel=2)", "R(rel=2)@1000"]
PRINTED = ["ndcg_cut_10", "map", "recip_rank", "recall_1000"]  # the order of the `all` values compared
TARGETS = {"workbench eval": 0.3, "workbench --help": 0.15}


def run_proc(cmd: list[str]) -> tuple[float, float, str]:
    """One child: wall seconds, CPU seconds (user + sys, from wait4), stdout. Raises on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.read().decode(errors='replace')[-2000:]}")
        return wall, ru.ru_utime + ru.ru_stime, out.read().decode(errors="replace")


def commands(qrels: Path, run: Path, trec_evals: list[str]) -> dict[str, list[str]]:
    cmds = {
        "workbench eval": [*WB, "eval", "-c", "-l", "2", "-m", *TREC_NAMES, str(qrels), str(run)],
        "ir_measures CLI": [PY, "-m", "ir_measures", str(qrels), str(run), *IR_MEASURES],
    }
    for path in trec_evals:
        label = "trec_eval" if len(trec_evals) == 1 else f"trec_eval ({path})"
        cmds[label] = [path, "-c", "-l", "2", *(a for m in TREC_NAMES for a in ("-m", m)), str(qrels), str(run)]
    return cmds


def all_values(tool: str, text: str) -> list[str]:
    """The four `all` values as printed to 4 decimals, in PRINTED order."""
    got = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if tool == "ir_measures CLI" and len(fields) == 2:  # measure<TAB>value
            name = dict(zip(IR_MEASURES, PRINTED, strict=True)).get(fields[0])
            got[name] = f"{float(fields[1]):.4f}"
        elif len(fields) == 3 and fields[1] == "all":
            got[fields[0].strip()] = fields[2]
    return [got.get(name, "?") for name in PRINTED]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qrels", type=Path, default=ROOT / "data" / "trec-dl-2020" / "qrels.dl20-passage.txt",
                    help="qrels file (default: the bundled TREC DL 2020 qrels)")
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "dl20" / "bm25.trec",
                    help="run file (default: the bundled DL 2020 BM25 run)")
    ap.add_argument("--trec-eval", action="append", default=[], metavar="PATH",
                    help="a built trec_eval binary, repeatable (default: $TREC_EVAL if set; none otherwise)")
    ap.add_argument("--reps", type=int, default=5, help="alternating rounds (default: 5)")
    args = ap.parse_args()
    trec_evals = args.trec_eval or ([os.environ["TREC_EVAL"]] if os.environ.get("TREC_EVAL") else [])
    cmds = commands(args.qrels, args.run, trec_evals)
    cmds["workbench --help"] = [*WB, "--help"]

    expected = None
    for tool, cmd in cmds.items():  # a warm-up round, and every tool must print the same numbers
        if tool == "workbench --help":
            run_proc(cmd)
            continue
        values = all_values(tool, run_proc(cmd)[2])
        print(f"[check] {tool:24} {' '.join(values)}", file=sys.stderr)
        if expected is None:
            expected = values
        elif values != expected:
            print(f"error: {tool} printed {values}, workbench eval {expected}", file=sys.stderr)
            return 1

    names = list(cmds)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(args.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            wall, cpu, _ = run_proc(cmds[name])
            walls[name].append(wall)
            cpus[name].append(cpu)

    base_wall = statistics.median(walls["workbench eval"])
    base_cpu = statistics.median(cpus["workbench eval"])
    print(f"`workbench eval` vs the ir_measures CLI and C trec_eval on {args.run.name} ({args.qrels.name}); "
          f"medians of {args.reps} alternating rounds; {platform.node()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| tool | wall s | CPU s | wall / workbench eval | CPU / workbench eval | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name in names:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        target = TARGETS.get(name)
        verdict = "" if target is None else f"<= {target} s: {'met' if wall <= target else 'not met'}"
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {wall / base_wall:.2f} | {cpu / base_cpu:.2f} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
