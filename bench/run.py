#!/usr/bin/env python3
"""Benchmark: the workbench CLI against ir_measures, ranx, trec_eval and DuckDB's bare CSV load, same files.

    .venv/bin/python bench/run.py            # full workload, 3 repetitions, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # 1/10 of MS MARCO scale, 1 repetition, no RESULTS.md

Workload: bench/gen_data.py (deterministic) writes bench-data/ (gitignored): one MS MARCO dev scale run
(6,980 queries x 1,000 = 7M lines) and 20 TREC DL scale runs (43 queries x 1,000) with graded qrels; this
script adds a reranked run (the first stage's 1,000 documents per query re-scored) for the depth sweep.

Every case is one or more subprocesses on the same files, repeated --reps times in interleaved order (so
load from other processes hits all tools alike); the table shows the median wall time, the median CPU
time (user + sys of the children) and the peak resident memory of the largest child (wait4 rusage).

Anchors it can install: ranx is pip-installed into this interpreter's environment on first run (for the
benchmark only; it is no dependency of the workbench). ir_measures + pytrec_eval are workbench dependencies.
trec_eval runs when a `trec_eval` binary is on PATH (one process per run file, as the README's anchor).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DATA = ROOT / "bench-data"
PY = sys.executable
_SCRIPT = Path(PY).with_name("workbench")
WB = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "workbench.cli.main"]
# the children import this checkout's workbench, not the one the environment was installed from (an editable
# install points at its own checkout: a worktree's benchmark would time the main checkout)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
MEASURES = ["nDCG@10", "AP", "RR@10", "R@1000"]
EXTRA = ["P@5", "P@10", "P@20", "P@30", "P@100", "P@200", "P@500", "P@1000", "R@5", "R@10", "R@20"]
DEPTHS = "0,5,10,20,30,50,100,200,500,1000"  # 10 depths

# ------------------------------------------------------------------------------------------- anchors
IR_MEASURES = """
import sys, ir_measures
from ir_measures import nDCG, AP, RR, R
qrels_path, runs = sys.argv[1], sys.argv[2:]
qrels = list(ir_measures.read_trec_qrels(qrels_path))
for run in runs:
    agg = ir_measures.pytrec_eval.calc_aggregate([nDCG@10, AP, RR@10, R@1000], iter(qrels),
                                                 ir_measures.read_trec_run(run))
print({str(k): round(v, 4) for k, v in agg.items()})
"""

RANX = """
import sys
from ranx import Qrels, Run, evaluate
qrels = Qrels.from_file(sys.argv[1], kind="trec")
for run in sys.argv[2:]:
    res = evaluate(qrels, Run.from_file(run, kind="trec"), ["ndcg@10", "map", "mrr@10", "recall@1000"])
print(res)
"""

DUCKDB_LOAD = """
import sys, duckdb
db, runs = sys.argv[1], sys.argv[2:]
con = duckdb.connect(db)
for i, run in enumerate(runs):
    con.execute(f"CREATE TABLE run{i} AS SELECT * FROM read_csv('{run}')")
con.close()
"""

DEPTH_LIB = """
import sys, time
from workbench.store import Store, get_qrels, get_run_rows
from workbench.analysis import depth_curve
store = Store(sys.argv[1])
cols = ("query_id", "doc_id", "score", "rank", "position")  # as workbench.services.depth.depth_study reads them
first, rer = get_run_rows(store, "ms", "run_00", cols), get_run_rows(store, "ms", "rerank_00", cols)
qrels = get_qrels(store, "ms")
t0 = time.perf_counter()
depth_curve(first, rer, qrels, ["nDCG@10"], depths=[int(d) for d in sys.argv[2].split(",")], n_boot=1000)
print(f"SWEEP {time.perf_counter() - t0:.3f}")
"""

RERANK = """
import sys, duckdb
src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f'''
COPY (SELECT qid, 'Q0', docid, row_number() OVER (PARTITION BY qid ORDER BY s DESC, docid DESC) AS rank,
             round(s, 6) AS score, 'rerank' AS tag
      FROM (SELECT column0 AS qid, column2 AS docid,
                   0.5 * column4 + 3.0 * ((hash(column0 || ':' || column2) % 1000003) / 1000003.0) AS s
            FROM read_csv('{src}', delim=' ', header=false, columns={{'column0': 'VARCHAR', 'column1': 'VARCHAR',
                 'column2': 'VARCHAR', 'column3': 'BIGINT', 'column4': 'DOUBLE', 'column5': 'VARCHAR'}}))
      ORDER BY qid, rank)
TO '{out}' (DELIMITER ' ', HEADER false, QUOTE '')''')
"""


# ------------------------------------------------------------------------------------------- running


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    extra: dict = field(default_factory=dict)


def run_proc(cmd: list[str], *, env: dict | None = None, discard: bool = False) -> tuple[float, float, float, str]:
    """Run one child; wall seconds, CPU seconds (user+sys), peak RSS MB, stdout. Raises on failure.

    Keep this process small: a forked child starts with its parent's peak RSS as its own (ru_maxrss).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.DEVNULL if discard else out, stderr=err,
                                env=env, cwd=ROOT)
        _, status, ru = os.wait4(proc.pid, 0)  # this child's own rusage (CPU, peak RSS)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        if proc.returncode != 0:
            msg = err.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{msg}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, text


def run_seq(cmds: list[list[str]], env: dict | None = None) -> Sample:
    wall = cpu = rss = 0.0
    outs = []
    for cmd in cmds:
        w, c, r, o = run_proc(cmd, env=env)
        wall, cpu, rss = wall + w, cpu + c, max(rss, r)
        outs.append(o)
    return Sample(wall, cpu, rss, {"out": "".join(outs)})


def wb(db: Path, *args: str) -> list[str]:
    return [*WB, "--db", str(db), *map(str, args)]


# ------------------------------------------------------------------------------------------- data


def ensure_data(quick: bool) -> dict[str, Path]:
    gen = BENCH / "gen_data.py"
    ms = DATA / ("msmarco-quick" if quick else "msmarco")
    dl = DATA / "dl"
    if not (ms / "manifest.json").exists():
        args = ["--queries", "698", "--depth", "1000", "--runs", "1"] if quick else ["--preset", "msmarco-dev"]
        print(f"[bench] generating {ms} ...", file=sys.stderr)
        subprocess.run([PY, str(gen), *args, "--out", str(ms), "--quiet"], check=True)
    if not (dl / "manifest.json").exists():
        print(f"[bench] generating {dl} ...", file=sys.stderr)
        subprocess.run([PY, str(gen), "--preset", "dl", "--out", str(dl), "--quiet"], check=True)
    rerank = ms / "rerank_00.txt"
    if not rerank.exists():
        print(f"[bench] writing the reranked run {rerank} ...", file=sys.stderr)
        subprocess.run([PY, "-c", RERANK, str(ms / "runs" / "run_00.txt"), str(rerank) + ".tmp"], check=True)
        os.replace(str(rerank) + ".tmp", rerank)
    return {"ms": ms, "dl": dl}


def ensure_ranx() -> bool:
    # checked in a child: importing ranx (numba) here would raise this process's RSS, which forked children
    # inherit as their starting peak (ru_maxrss)
    if subprocess.run([PY, "-c", "import ranx"], capture_output=True).returncode == 0:
        return True
    print("[bench] installing ranx into this environment for the anchors (benchmark only) ...", file=sys.stderr)
    rc = subprocess.run([PY, "-m", "pip", "install", "-q", "ranx"]).returncode
    return rc == 0


# ------------------------------------------------------------------------------------------- cases


class Cases:
    """Each case: setup (untimed, fresh store) then the timed commands."""

    def __init__(self, data: dict[str, Path], tmp: Path, has_ranx: bool, trec_eval: str | None,
                 one_command: bool) -> None:
        self.ms, self.dl, self.tmp = data["ms"], data["dl"], tmp
        self.ms_qrels = self.ms / "qrels.txt"
        self.ms_run = self.ms / "runs" / "run_00.txt"
        self.dl_qrels = self.dl / "qrels.txt"
        self.dl_runs = sorted((self.dl / "runs").glob("run_*.txt"))
        self.has_ranx, self.trec_eval, self.one_command = has_ranx, trec_eval, one_command
        self.n = 0
        self.rescore_store: Path | None = None
        self.extra_i = 0

    def fresh_db(self, collection: str, qrels: Path) -> Path:
        self.n += 1
        db = self.tmp / f"s{self.n}.duckdb"
        run_proc(wb(db, "collection", "add", collection, "--qrels", qrels))
        return db

    def cleanup(self, db: Path) -> None:
        for p in (db, Path(str(db) + ".wal")):
            p.unlink(missing_ok=True)

    # MS MARCO scale ------------------------------------------------------------------------------
    def ms_cat(self) -> Sample:
        w, c, r, _ = run_proc(["cat", str(self.ms_run)], discard=True)
        return Sample(w, c, r)

    def ms_duckdb_disk(self) -> Sample:
        db = self.tmp / "duck.duckdb"
        self.cleanup(db)
        s = run_seq([[PY, "-c", DUCKDB_LOAD, str(db), str(self.ms_run)]])
        self.cleanup(db)
        return s

    def ms_duckdb_mem(self) -> Sample:
        return run_seq([[PY, "-c", DUCKDB_LOAD, ":memory:", str(self.ms_run)]])

    def ms_ir_measures(self) -> Sample:
        return run_seq([[PY, "-c", IR_MEASURES, str(self.ms_qrels), str(self.ms_run)]])

    def ms_ranx(self) -> Sample:
        return run_seq([[PY, "-c", RANX, str(self.ms_qrels), str(self.ms_run)]])

    def ms_trec_eval(self) -> Sample:
        return run_seq([[self.trec_eval, "-m", "ndcg_cut.10", "-m", "map", "-m", "recip_rank", "-m",
                         "recall.1000", str(self.ms_qrels), str(self.ms_run)]])

    def ms_wb_two(self) -> Sample:
        """`workbench ingest` then `workbench evaluate` (two processes)."""
        db = self.fresh_db("ms", self.ms_qrels)
        s = run_seq([wb(db, "ingest", "-c", "ms", self.ms_run), wb(db, "evaluate", "-c", "ms", "-m", *MEASURES)])
        if self.rescore_store is not None:
            self.cleanup(self.rescore_store)
        self.rescore_store = db  # kept for the rescoring case
        return s

    def ms_wb_one(self) -> Sample:
        """`workbench ingest --measures ...` (parse, store, score and store per-query values in one process)."""
        db = self.fresh_db("ms", self.ms_qrels)
        s = run_seq([wb(db, "ingest", "-c", "ms", self.ms_run, "--measures", *MEASURES)])
        self.cleanup(db)
        return s

    def ms_rescore(self) -> Sample:
        """One more measure on the stored 7M-line run: `workbench evaluate -m <the 4> <one new>`."""
        assert self.rescore_store is not None
        extra = EXTRA[self.extra_i % len(EXTRA)]
        self.extra_i += 1
        s = run_seq([wb(self.rescore_store, "evaluate", "-c", "ms", "-m", *MEASURES, extra)])
        if "scored now: 1 " not in s.extra["out"]:
            raise RuntimeError(f"rescore did not score exactly one new measure:\n{s.extra['out'][-500:]}")
        return s

    # TREC DL scale, 20 runs ----------------------------------------------------------------------
    def dl_duckdb_disk(self) -> Sample:
        db = self.tmp / "duck.duckdb"
        self.cleanup(db)
        s = run_seq([[PY, "-c", DUCKDB_LOAD, str(db), *map(str, self.dl_runs)]])
        self.cleanup(db)
        return s

    def dl_ir_measures(self) -> Sample:
        return run_seq([[PY, "-c", IR_MEASURES, str(self.dl_qrels), *map(str, self.dl_runs)]])

    def dl_ranx(self) -> Sample:
        return run_seq([[PY, "-c", RANX, str(self.dl_qrels), *map(str, self.dl_runs)]])

    def dl_trec_eval(self) -> Sample:
        return run_seq([[self.trec_eval, "-m", "ndcg_cut.10", "-m", "map", "-m", "recip_rank", "-m",
                         "recall.1000", str(self.dl_qrels), str(r)] for r in self.dl_runs])

    def dl_wb(self) -> Sample:
        db = self.fresh_db("dl", self.dl_qrels)
        if self.one_command:
            cmds = [wb(db, "ingest", "-c", "dl", *self.dl_runs, "--measures", *MEASURES)]
        else:
            cmds = [wb(db, "ingest", "-c", "dl", *self.dl_runs), wb(db, "evaluate", "-c", "dl", "-m", *MEASURES)]
        s = run_seq(cmds)
        self.cleanup(db)
        return s

    # depth sweep ---------------------------------------------------------------------------------
    def depth_store(self) -> Path:
        if getattr(self, "_depth_db", None) is None:
            db = self.fresh_db("ms", self.ms_qrels)
            run_proc(wb(db, "ingest", "-c", "ms", self.ms_run))
            run_proc(wb(db, "ingest", "-c", "ms", "--name", "rerank_00", "--kind", "rerank", "--parent", "run_00",
                        "--depth", "1000", self.ms / "rerank_00.txt"))
            self._depth_db = db
        return self._depth_db

    def depth_cli(self) -> Sample:
        db = self.depth_store()
        return run_seq([wb(db, "depth", "-c", "ms", "rerank_00", "-f", "run_00", "-m", "nDCG@10",
                           "--depths", DEPTHS, "--json")])

    def depth_lib(self) -> Sample:
        db = self.depth_store()
        s = run_seq([[PY, "-c", DEPTH_LIB, str(db), DEPTHS]])
        sweep = float(s.extra["out"].split("SWEEP")[1].split()[0])
        return Sample(sweep, float("nan"), s.rss_mb)


# ------------------------------------------------------------------------------------------- report


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        ram_gb = int(mem.split()[1]) / 1024 / 1024
    except (OSError, StopIteration):
        ram_gb = float("nan")
    versions = {}
    for mod in ("duckdb", "pyarrow", "numpy", "ir_measures", "pytrec_eval", "ranx"):
        try:
            out = subprocess.run([PY, "-c", f"import importlib.metadata as m; print(m.version({mod!r}.replace('_','-')"
                                  f" if {mod!r} != 'pytrec_eval' else 'pytrec-eval-terrier'))"],
                                 capture_output=True, text=True).stdout.strip()
            versions[mod] = out or "-"
        except OSError:
            versions[mod] = "-"
    return {"cores": os.cpu_count(), "cpu": cpu, "ram_gb": round(ram_gb, 1), "python": platform.python_version(),
            "kernel": platform.release(), "versions": versions}


def fmt(x: float, nd: int = 2) -> str:
    return "-" if x != x else f"{x:.{nd}f}"


def write_latest(dest: Path, text: str) -> None:
    """Replace what lies between `<!-- latest -->` and `<!-- /latest -->` in `dest` (keeping the notes and older
    runs around it), or write a new file with just this table."""
    start, end = "<!-- latest -->\n", "<!-- /latest -->"
    old = dest.read_text() if dest.exists() else ""
    if start in old and end in old:
        dest.write_text(old[: old.index(start) + len(start)] + text + old[old.index(end):])
    else:
        dest.write_text(f"# Benchmark results\n\n{start}{text}{end}\n")


def main(argv=None) -> int:  # noqa: C901
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1/10 MS MARCO scale, 1 repetition, no RESULTS.md")
    ap.add_argument("--reps", type=int, help="repetitions per case (default 3, --quick 1)")
    ap.add_argument("--only", nargs="+", help="run only these cases (names as printed)")
    ap.add_argument("--no-anchors", action="store_true", help="skip ir_measures/ranx/trec_eval/DuckDB")
    ap.add_argument("--two-commands", action="store_true",
                    help="DL case as `ingest` + `evaluate` (for workbench versions without ingest --measures)")
    ap.add_argument("--label", default="", help="a note stored with the results (e.g. a commit)")
    ap.add_argument("--write", help="markdown file for the table (default bench/RESULTS.md unless --quick)")
    a = ap.parse_args(argv)
    reps = a.reps or (1 if a.quick else 3)
    data = ensure_data(a.quick)
    has_ranx = False if a.no_anchors else ensure_ranx()
    trec_eval = None if a.no_anchors else shutil.which("trec_eval")
    info = machine()
    ingest_help = subprocess.run([*WB, "ingest", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    one_command = "--measures" in ingest_help and not a.two_commands

    names = ["ms_cat", "ms_duckdb_disk", "ms_duckdb_mem", "ms_ir_measures", "ms_ranx", "ms_trec_eval", "ms_wb_two",
             "ms_wb_one", "ms_rescore", "dl_duckdb_disk", "dl_ir_measures", "dl_ranx", "dl_trec_eval", "dl_wb",
             "depth_lib", "depth_cli"]
    anchors = {"ms_cat", "ms_duckdb_disk", "ms_duckdb_mem", "ms_ir_measures", "ms_ranx", "ms_trec_eval",
               "dl_duckdb_disk", "dl_ir_measures", "dl_ranx", "dl_trec_eval"}
    if a.no_anchors:
        names = [n for n in names if n not in anchors]
    if not has_ranx:
        names = [n for n in names if not n.endswith("_ranx")]
    if trec_eval is None:
        names = [n for n in names if not n.endswith("_trec_eval")]
    if not one_command:
        names = [n for n in names if n != "ms_wb_one"]
    if a.only:
        names = [n for n in names if n in a.only or (n == "ms_wb_two" and "ms_rescore" in a.only)]

    load0 = os.getloadavg()
    results: dict[str, list[Sample]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="wb-bench-", dir=DATA) as tmp:
        cases = Cases(data, Path(tmp), has_ranx, trec_eval, one_command)
        for rep in range(reps):
            for n in names:
                s = getattr(cases, n)()
                results[n].append(s)
                print(f"[bench] rep {rep + 1}/{reps} {n:16s} wall {s.wall:6.2f} s  cpu {fmt(s.cpu)} s  "
                      f"rss {s.rss_mb:6.0f} MB", file=sys.stderr, flush=True)
    load1 = os.getloadavg()

    med = {n: (statistics.median(s.wall for s in v), statistics.median(s.cpu for s in v),
               max(s.rss_mb for s in v)) for n, v in results.items() if v}
    scale = "MS MARCO dev/10 (698 q x 1,000)" if a.quick else "MS MARCO dev (6,980 q x 1,000 = 7M lines)"
    label = {
        "ms_cat": "`cat` (I/O floor)",
        "ms_duckdb_disk": "DuckDB `read_csv` into a table, on-disk database (bare load)",
        "ms_duckdb_mem": "DuckDB `read_csv` into a table, in-memory database",
        "ms_ir_measures": "ir_measures (pytrec_eval), file to aggregate",
        "ms_ranx": "ranx, file to aggregate",
        "ms_trec_eval": "C trec_eval",
        "ms_wb_two": "workbench `ingest` + `evaluate` (2 processes, per-query values stored)",
        "ms_wb_one": "workbench `ingest --measures` (1 process, per-query values stored)",
        "ms_rescore": "workbench `evaluate` with one more measure on the stored run",
        "dl_duckdb_disk": "DuckDB `read_csv` of the 20 files into tables, on-disk database",
        "dl_ir_measures": "ir_measures (pytrec_eval), 20 runs in one process",
        "dl_ranx": "ranx, 20 runs in one process",
        "dl_trec_eval": "C trec_eval, one process per run",
        "dl_wb": ("workbench `ingest --measures` of the 20 files (1 command)" if one_command
                  else "workbench `ingest` + `evaluate` of the 20 files (2 commands)"),
        "depth_lib": "depth sweep, `depth_curve` in process (10 depths, nDCG@10 + Judged@10, 1,000 bootstrap)",
        "depth_cli": "`workbench depth` end to end (10 depths, CIs, tests, phantom hits)",
    }
    irm = med.get("ms_ir_measures", (float("nan"),))[0]
    duck = med.get("ms_duckdb_disk", (float("nan"),))[0]
    dl_irm = med.get("dl_ir_measures", (float("nan"),))[0]

    def target(n: str) -> str:
        w = med[n][0]
        if n in ("ms_wb_two", "ms_wb_one"):
            ok = w * 4 <= irm and w <= 1.5 * duck and med[n][2] < 4096
            return (f"{irm / w:.1f}x faster than ir_measures (>= 4x); {w / duck:.2f}x DuckDB load (<= 1.5x); "
                    f"{med[n][2] / 1024:.2f} GB (< 4 GB): {'met' if ok else 'NOT met'}")
        if n == "ms_rescore":
            return f"<= 1 s: {'met' if w <= 1 else 'NOT met'}"
        if n == "dl_wb":
            return f"<= 1 s: {'met' if w <= 1 else 'NOT met'}; {dl_irm / w:.1f}x faster than ir_measures"
        if n in ("depth_lib", "depth_cli"):
            return f"<= 5 s: {'met' if w <= 5 else 'NOT met'}"
        if n.startswith("ms_") and irm == irm:
            return f"{irm / w:.2f}x of ir_measures' speed"
        if n.startswith("dl_") and dl_irm == dl_irm:
            return f"{dl_irm / w:.2f}x of ir_measures' speed"
        return ""

    lines = [
        f"Machine: {info['cores']} cores, {info['cpu']}, {info['ram_gb']} GB RAM; Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        f"Load average (1 min) at start {load0[0]:.1f}, at end {load1[0]:.1f}; {reps} repetitions, interleaved; "
        "medians. CPU = user + sys of the child processes.",
        "",
        "| case | wall s (median) | CPU s | peak RSS MB | against the targets |",
        "|---|---:|---:|---:|---|",
    ]
    sections = [("ms_", scale), ("dl_", "TREC DL scale, 20 runs x 43 q x 1,000"),
                ("depth_", "Depth sweep over the 7M-line first stage and its 7M-line reranked run")]
    for prefix, title in sections:
        rows = [n for n in names if n.startswith(prefix) and n in med]
        if not rows:
            continue
        lines.append(f"| **{title}** | | | | |")
        for n in rows:
            w, c, r = med[n]
            lines.append(f"| {label[n]} | {fmt(w)} | {fmt(c)} | {r:.0f} | {target(n)} |")
    table = "\n".join(lines)
    print(table)
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(
        {"label": a.label, "machine": info, "load": [load0, load1], "reps": reps, "quick": a.quick,
         "samples": {n: [s.__dict__ | {"extra": {}} for s in v] for n, v in results.items()}}, indent=1))
    dest = a.write or (None if a.quick or a.only else str(BENCH / "RESULTS.md"))
    if dest:
        label = f" ({a.label})" if a.label else ""
        stamp = f"Written by `bench/run.py`{label} on {time.strftime('%Y-%m-%d %H:%M')}.\n\n"
        write_latest(Path(dest), stamp + table + "\n")
        print(f"[bench] wrote {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
