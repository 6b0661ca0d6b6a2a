"""Retrieval benchmark (issue 3): index build, BM25 queries/s, encoding docs/s, the demo cold and warm.

    .venv/bin/python bench/retrieval.py [--threads 2] [--skip-demo]

Runs on the bundled SciFact collection (5,183 documents, 300 judged test queries) with a fresh cache folder, so
"cold" really is cold; prints a table with the targets and writes it to bench/RETRIEVAL.md with the machine.
Targets (issue 3): the demo <= 300 s the first time on 2 cores, <= 30 s when cached.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) / 2**20
    load = os.getloadavg()[0]
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {cpu}, {mem:.1f} GiB RAM, Python {python}, load {load:.2f} at start"


def demo(db: Path, out: Path, cache: Path, threads: int) -> float:
    env = {**os.environ, "WORKBENCH_CACHE": str(cache)}
    started = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "workbench"), "--db", str(db), "demo", "--no-serve",
                    "--out", str(out), "--threads", str(threads), "--manifest", str(ROOT / "data_manifest.yaml")],
                   check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import pyarrow.compute as pc

    from workbench.io.docs import read_docs
    from workbench.io.qrels import read_qrels
    from workbench.io.topics import read_topics
    from workbench.retrieval.bm25 import bm25_search
    from workbench.retrieval.dense import dense_search

    rows: list[tuple[str, str, str]] = []
    info = machine()
    docs = read_docs(ROOT / "data/scifact/corpus.jsonl.gz")
    topics = read_topics(ROOT / "data/scifact/queries.jsonl")
    judged = pc.unique(read_qrels(ROOT / "data/scifact/qrels/test.tsv").column("query_id"))
    topics = topics.filter(pc.is_in(topics.column("query_id"), value_set=judged))
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        cache = Path(tmp) / "cache"
        bm = bm25_search(docs, topics, cache_dir=cache, threads=args.threads)
        rows.append(("BM25 index build (5,183 docs)", f"{bm.timings['index_build']:.2f} s", ""))
        rows.append(("BM25 search, 1,000 hits", f"{topics.num_rows / bm.timings['search']:.1f} queries/s",
                     f"{topics.num_rows} queries in {bm.timings['search']:.2f} s"))
        de = dense_search(docs, topics, cache_dir=cache, threads=args.threads)
        rows.append(("MiniLM document encoding", f"{docs.num_rows / de.timings['encode_docs']:.1f} docs/s",
                     f"{de.timings['encode_docs']:.1f} s, {args.threads} threads"))
        rows.append(("faiss exact search", f"{topics.num_rows / de.timings['search']:.0f} queries/s", ""))
        if not args.skip_demo:
            demo_cache = Path(tmp) / "demo-cache"
            cold = demo(Path(tmp) / "demo.duckdb", Path(tmp) / "out", demo_cache, args.threads)
            warm = demo(Path(tmp) / "demo.duckdb", Path(tmp) / "out", demo_cache, args.threads)
            rows.append(("`workbench demo --no-serve`, cold (empty store and cache)", f"{cold:.1f} s",
                         f"target 300 s: {cold / 300:.2f}x"))
            rows.append(("`workbench demo --no-serve`, warm", f"{warm:.1f} s", f"target 30 s: {warm / 30:.2f}x"))
    table = ["| case | result | notes |", "|---|---:|---|", *[f"| {a} | {b} | {c} |" for a, b, c in rows]]
    text = "\n".join(["# Retrieval benchmark", "", f"Machine: {info}.", "", *table, ""])
    print(text)
    (ROOT / "bench" / "RETRIEVAL.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
