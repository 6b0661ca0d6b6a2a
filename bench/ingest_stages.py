#!/usr/bin/env python3
"""Where `ingest --measures` spends its CPU: each stage of the session run one after another, in this process.

    .venv/bin/python bench/ingest_stages.py            # the 20 DL runs
    .venv/bin/python bench/ingest_stages.py --msmarco  # the 7M-line run (run bench/run.py first: it writes it)

The stages are ingest's own functions (services/ingest.py's session does the same, with parsing and scoring on
threads and several store openings around them), so the sum is a little below the command's CPU. Per stage: CPU
seconds (user + sys of the process, DuckDB's threads included), wall seconds and page faults (fresh memory, which
costs sys time: see docs/startup.md on transparent huge pages). Imports are timed first, pandas among them: pyarrow
imports it at its first conversion, so it is imported here on purpose to show its share.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench-data"
MEASURES = ["nDCG@10", "AP", "RR@10", "R@1000"]


class Stages:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, int]] = []
        self.t, self.r = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

    def mark(self, name: str) -> None:
        t, r = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        cpu = r.ru_utime - self.r.ru_utime + r.ru_stime - self.r.ru_stime
        self.rows.append((name, cpu, t - self.t, r.ru_minflt - self.r.ru_minflt))
        self.t, self.r = t, r

    def table(self) -> str:
        lines = ["| stage | CPU s | wall s | page faults |", "|---|---:|---:|---:|"]
        lines += [f"| {n} | {c:.2f} | {w:.2f} | {f} |" for n, c, w, f in self.rows]
        total = sum(c for _, c, _, _ in self.rows)
        return "\n".join([*lines, f"| total | {total:.2f} | | |"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--msmarco", action="store_true", help="the 7M-line run instead of the 20 DL runs")
    args = ap.parse_args()
    where = DATA / ("msmarco" if args.msmarco else "dl")
    paths = [where / "runs" / "run_00.txt"] if args.msmarco else sorted((where / "runs").glob("run_*.txt"))
    if not paths or not paths[0].exists():
        ap.error(f"no workload in {where}: run bench/run.py (or bench/vs_trec_eval.py) first")
    s = Stages()
    s.mark("import numpy, pyarrow")
    import duckdb  # noqa: F401
    s.mark("import duckdb")
    from workbench.io.runs import read_run
    from workbench.io.validate import run_format_check, run_qrels_warnings
    from workbench.model import RunInfo
    from workbench.scoring import SEMANTICS, evaluator_id
    from workbench.services.collection import add_collection
    from workbench.services.evaluate import resolve_named
    from workbench.services.ingest import _score
    from workbench.store import NewRun, ScoredAgainst, Store, ingest_context, put_runs
    s.mark("import the workbench (ir_measures with it)")
    import pandas  # noqa: F401
    s.mark("import pandas (what pyarrow's first conversion does)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "stages.duckdb")
        add_collection(store, "c", qrels=where / "qrels.txt")
        s.mark("(untimed: collection add)")
        s.rows.pop()
        _, qrels, _ = ingest_context(store, "c")
        s.mark("open the store, read qrels and runs")
        parsed = [read_run(path) for path in paths]
        s.mark(f"{len(paths)} x parse: hash, checks, to Arrow")
        scores = [_score(p.table, qrels, MEASURES) for p in parsed]
        s.mark(f"{len(paths)} x score ({', '.join(MEASURES)})")
        checks = [run_format_check(p.table) for p in parsed]
        s.mark(f"{len(paths)} x format check, trec_eval positions")
        for p in parsed:
            run_qrels_warnings(p.table, qrels)
        s.mark(f"{len(paths)} x qrels warnings")
        info, _, _ = ingest_context(store, "c")
        named = resolve_named(store, "c", MEASURES)
        against = ScoredAgainst(info.qrels_hash, SEMANTICS, {nm.canonical: evaluator_id(nm.measure) for nm in named})
        runs = []
        for i, (p, (_, positions, _), values) in enumerate(zip(parsed, checks, scores, strict=True)):
            record = RunInfo(collection="c", name=f"r{i}", run_hash=p.sha256, kind="other", parent=None, depth=None,
                             source_path=str(paths[i]), run_tag=p.run_tags[0], n_queries=0,
                             n_rows=p.table.num_rows, metadata_header=None, params={}, software={}, warnings=())
            runs.append(NewRun(record, p.table, positions, per_query=lambda v=values: v))
        put_runs(store, runs, scores=against)
        s.mark("one INSERT of the rows with positions and top rows, the scores; COMMIT")
    print(f"\n{len(paths)} run file(s) from {where.name}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    print(s.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
