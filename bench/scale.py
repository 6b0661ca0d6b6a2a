#!/usr/bin/env python3
"""Scale-out benchmark (issue 19): scoring rows/s with the local engine and with Ray at 1 and 2 workers, encoding
docs/s at 1 and 2 workers, the lake's bytes per row, and a simulation of transaction-log growth.

    .venv/bin/python bench/scale.py                    # the 7M-line MS MARCO dev run (gen_data.py's msmarco-dev)
    .venv/bin/python bench/scale.py --preset dl        # smoke: 20 TREC DL-sized runs (860k lines), no SCALE.md
    .venv/bin/python bench/scale.py --docs 0           # no encoding cases (they need torch and the MiniLM wheel)

Everything runs in this process through the library: the store and the lake on local disk (a temporary folder),
a Ray cluster of one node (1 CPU), then two (a second node of 1 CPU added), on 127.0.0.1 without dashboard. Each
scoring case starts from a fresh copy of the store or lake (nothing scored yet) and scores nDCG@10, AP, RR@10 and
R@1000. Rows/s = run rows scored / wall seconds of the whole call (reading, scoring, committing); the Ray cases
run after a warm-up job (four runs of 1,000 rows, one unit each: the "fixed cost" line, which starts every
worker), and include Ray Data's per-job start-up.

Encoding: the first N documents of the bundled SciFact corpus (title + text, MiniLM, batch 64, 1 torch thread per
worker), locally and on the cluster. The full-size run writes bench/SCALE.md; the timings vary 10-20% on the
shared machine, so the load average is printed with them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep the driver on loopback (engine/ray_engine.py)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench-data"
MEASURES = ["nDCG@10", "AP", "RR@10", "R@1000"]


def load() -> float:
    return os.getloadavg()[0]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def folder_bytes(path: Path, pattern: str = "*.parquet") -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern))


def ensure_data(args) -> Path:
    if args.preset:
        name, gen = args.preset, ["--preset", args.preset]
    else:
        name = f"q{args.queries}-d{args.depth}-r{args.runs}"
        gen = ["--queries", str(args.queries), "--depth", str(args.depth), "--runs", str(args.runs)]
    out = DATA / f"scale-{name}"
    if not (out / "manifest.json").exists():
        print(f"[scale] generating {out} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_data.py"), *gen, "--out", str(out), "--quiet"],
                       check=True)
    return out


def build_store(data: Path, db: Path) -> int:
    from workbench.services.collection import add_collection
    from workbench.services.ingest import ingest_runs
    from workbench.store import Store

    store = Store(db)
    add_collection(store, "ms", qrels=data / "qrels.txt")
    results = ingest_runs(store, "ms", sorted((data / "runs").glob("*.txt")))
    return sum(r.info.n_rows for r in results)


def scoring_cases(data: Path, tmp: Path, rows: list) -> None:
    from ray.cluster_utils import Cluster

    from workbench.engine import LocalEngine, get_engine
    from workbench.lake.scoring import evaluate_lake
    from workbench.lake.transfer import push
    from workbench.services.evaluate import evaluate_runs
    from workbench.store import Store

    base = tmp / "base.duckdb"
    n_rows = build_store(data, base)
    print(f"[scale] {n_rows:,} run rows in the store", file=sys.stderr)

    def store_copy() -> Store:
        dst = tmp / "copy.duckdb"
        shutil.copyfile(base, dst)
        return Store(dst)

    copy = store_copy()
    wall, _ = timed(lambda: evaluate_runs(copy, "ms", MEASURES))
    rows.append(("score: local engine, the store (`workbench evaluate`)", wall, n_rows / wall, "rows/s"))

    lake = tmp / "lake"
    wall, _ = timed(lambda: push(Store(base), str(lake)))
    rows.append(("lake push (rows, entries; no scores yet)", wall, n_rows / wall, "rows/s"))
    row_bytes = folder_bytes(lake / "run_rows") / n_rows

    def lake_copy() -> str:
        dst = tmp / "lake-copy"
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(lake, dst)
        return str(dst)

    copied = lake_copy()
    wall, _ = timed(lambda: evaluate_lake(copied, "ms", MEASURES, engine=LocalEngine()))
    rows.append(("score: local engine, the lake (`evaluate --lake`)", wall, n_rows / wall, "rows/s"))
    score_bytes = folder_bytes(tmp / "lake-copy" / "scores")
    n_scores = _count(tmp / "lake-copy" / "scores")

    tiny = tmp / "tiny"
    _tiny_lake(tmp, tiny)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "node_ip_address": "127.0.0.1"})
    try:
        for workers in (1, 2):
            if workers == 2:
                cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
            engine = get_engine("ray", address=cluster.address)
            try:
                dst = tmp / "tiny-copy"
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(tiny, dst)
                # four units of 1,000 rows: every worker starts (imports, joins) before the measured job
                wall, _ = timed(lambda dst=dst, engine=engine: evaluate_lake(str(dst), "t", MEASURES, engine=engine,
                                                                             block_rows=1))
                rows.append((f"Ray, {workers} worker(s): fixed cost (four 1,000-row runs, workers cold)", wall,
                             None, ""))
                copied = lake_copy()
                wall, result = timed(lambda engine=engine, copied=copied: evaluate_lake(copied, "ms", MEASURES,
                                                                                        engine=engine))
                rows.append((f"score: Ray, {workers} worker(s) (`evaluate --engine ray`), "
                              f"{result.engine['units']} units on {result.engine['nodes']} node(s)",
                              wall, n_rows / wall, "rows/s"))
            finally:
                engine.close()
    finally:
        cluster.shutdown()
    rows.append(("lake bytes per run row (zstd Parquet: query_id, doc_id, score, rank, position)", None,
                 row_bytes, "bytes"))
    rows.append(("lake bytes per per-query value (scores table)", None, score_bytes / max(n_scores, 1), "bytes"))


def _count(table: Path) -> int:
    from deltalake import DeltaTable

    return DeltaTable(str(table)).to_pyarrow_dataset().count_rows()


def _tiny_lake(tmp: Path, lake: Path) -> None:
    from workbench.lake.transfer import push
    from workbench.services.collection import add_collection
    from workbench.services.ingest import ingest_run
    from workbench.store import Store

    (tmp / "tiny").mkdir(exist_ok=True)
    qrels, run = tmp / "tiny-qrels.txt", tmp / "tiny-run.txt"
    qrels.write_text("".join(f"q{q} 0 d{d} {d % 3}\n" for q in range(10) for d in range(20)))
    store = Store(tmp / "tiny.duckdb")
    add_collection(store, "t", qrels=qrels)
    for i in range(4):
        run.write_text("".join(f"q{q} Q0 d{d} {d + 1} {100 - d + i} t\n" for q in range(10) for d in range(100)))
        ingest_run(store, "t", run, name=f"tiny{i}")
    shutil.rmtree(lake, ignore_errors=True)
    push(store, str(lake))


def encoding_cases(n_docs: int, tmp: Path, rows: list) -> None:
    import pyarrow as pa
    from ray.cluster_utils import Cluster

    from workbench.engine import get_engine
    from workbench.retrieval.dense import corpus_embeddings

    with gzip.open(ROOT / "data" / "scifact" / "corpus.jsonl.gz", "rt") as f:
        records = [json.loads(next(f)) for _ in range(n_docs)]
    docs = pa.table({"doc_id": [r["_id"] for r in records], "title": [r.get("title", "") for r in records],
                     "text": [r.get("text", "") for r in records]})

    def encode(engine, name: str) -> float:
        cache = tmp / f"cache-{name}"
        wall, _ = timed(lambda: corpus_embeddings(docs, None, cache_dir=cache, threads=1, engine=engine))
        return wall

    wall = encode(None, "local")
    rows.append((f"encode {n_docs:,} SciFact docs: local, 1 thread", wall, n_docs / wall, "docs/s"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "node_ip_address": "127.0.0.1"})
    try:
        for workers in (1, 2):
            if workers == 2:
                cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
            engine = get_engine("ray", address=cluster.address)
            try:
                wall = encode(engine, f"ray{workers}")
            finally:
                engine.close()
            rows.append((f"encode {n_docs:,} SciFact docs: Ray, {workers} worker(s) (model loaded per worker "
                         "included)", wall, n_docs / wall, "docs/s"))
    finally:
        cluster.shutdown()


def log_simulation(tmp: Path, commits: int, rows: list) -> None:
    """Simulated (this machine cannot hold 10^12 rows): how opening a table grows with its commit count, with
    delta-rs's default checkpoint every 100 commits and without checkpoints."""
    import pyarrow as pa
    from deltalake import DeltaTable, PostCommitHookProperties, write_deltalake

    batch = pa.table({"run_hash": ["h"], "value": [1.0]})
    for checkpoints in (True, False):
        path = tmp / f"log-{checkpoints}"
        hook = PostCommitHookProperties(create_checkpoint=checkpoints)
        for _ in range(commits):
            write_deltalake(str(path), batch, mode="append", post_commithook_properties=hook)
        opens = []
        for _ in range(5):
            wall, _ = timed(lambda path=path: DeltaTable(str(path)).version())
            opens.append(wall)
        label = "with a checkpoint every 100 commits" if checkpoints else "without checkpoints"
        rows.append((f"simulation: open a table after {commits} commits, {label}", min(opens), None, ""))


def machine() -> str:
    import deltalake
    import ray

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; ray {ray.__version__}, "
            f"deltalake {deltalake.__version__}")


def table(rows: list) -> str:
    out = ["| case | wall s | rate | |", "|---|---:|---:|---|"]
    for name, wall, rate, unit in rows:
        w = "" if wall is None else f"{wall:.2f}" if wall >= 0.1 else f"{wall:.4f}"
        r = (f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}") if rate is not None else ""
        out.append(f"| {name} | {w} | {r} | {unit} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=["msmarco-dev", "dl"], help="gen_data.py preset (default: msmarco-dev)")
    p.add_argument("--queries", type=int, help="custom workload instead of a preset: queries")
    p.add_argument("--depth", type=int, default=1000, help="custom workload: documents per query")
    p.add_argument("--runs", type=int, default=1, help="custom workload: runs")
    p.add_argument("--docs", type=int, default=2000, help="SciFact documents to encode (0: no encoding cases)")
    p.add_argument("--log-commits", type=int, default=300, help="commits of the log simulation (0: none)")
    p.add_argument("--out", type=Path, help="markdown file to write (default: bench/SCALE.md for msmarco-dev)")
    args = p.parse_args(argv)
    if args.queries is None and args.preset is None:
        args.preset = "msmarco-dev"
    data = ensure_data(args)
    start_load = load()
    rows: list = []
    with tempfile.TemporaryDirectory(prefix="wb-scale-") as t:
        tmp = Path(t)
        scoring_cases(data, tmp, rows)
        if args.docs:
            encoding_cases(args.docs, tmp, rows)
        if args.log_commits:
            log_simulation(tmp, args.log_commits, rows)
    text = (f"Workload: `{data.name}` from bench/gen_data.py; measures {', '.join(MEASURES)}.\n\n"
            f"Machine: {machine()}. Load average (1 min) {start_load:.1f} at start, {load():.1f} at end.\n\n"
            f"{table(rows)}\n")
    print(text)
    out = args.out or (ROOT / "bench" / "SCALE.md" if args.preset == "msmarco-dev" else None)
    if out is not None:
        out.write_text("# Scale-out benchmark (bench/scale.py)\n\n" + text)
        print(f"[scale] wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
