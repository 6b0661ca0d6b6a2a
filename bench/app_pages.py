#!/usr/bin/env python3
"""Dashboard page timings on a big synthetic store: does every page answer within 1 s?

    .venv/bin/python bench/app_pages.py                 # 100 runs x 7,000 queries x 1,000 docs (the target)
    .venv/bin/python bench/app_pages.py --quick         # 10 runs x 700 queries x 1,000 docs
    .venv/bin/python bench/app_pages.py --runs 30 --queries 2000 --docs 1000 --reps 3

Builds (once; reused while its parameters match) bench-data/pages-R-Q-D.duckdb: a graded collection, first-stage
runs of spread quality and two reranked runs of `bm25` (depth 100 and 20, with parent and depth recorded). Runs
are generated with numpy, written as TREC files to bench-data/ and stored by the library's `ingest_run` (the
code path of `workbench ingest`), then scored by `evaluate_runs` (that of `workbench evaluate`). Each page is
then opened with streamlit's AppTest: the first render (cold st.cache_data) and a rerun (warm cache), the median
of --reps fresh sessions each. The table goes to stdout and bench/PAGES.md with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-data"
PAGES = ("leaderboard", "per_query", "drilldown", "depth", "fusion", "runs")
TITLES = {"leaderboard": "Leaderboard", "per_query": "Per-query comparison", "drilldown": "Query drill-down",
          "depth": "Rerank depth scaling", "fusion": "Fusion lab", "runs": "Runs"}
TARGET_S = 1.0
COLLECTION = "bench"
RERANKED = ((100, "bm25__rr@100"), (20, "bm25__rr@20"))
QUALITY_STEPS = 98  # first-stage quality rises over 98 runs, whatever --runs is (a run is the same in any store)
GRADE_P = np.array([0.45, 0.2, 0.22, 0.13])  # grades 0..3 among judged documents (TREC DL-like)


def run_names(n_runs: int) -> list[str]:
    """bm25 and its reranked runs first (so a partly built store already serves every page), then first stages."""
    firsts = max(1, n_runs - len(RERANKED))
    return ["bm25", *[name for _, name in RERANKED][: n_runs - firsts], *(f"run_{i:03d}" for i in range(1, firsts))]


# ------------------------------------------------------------------------------------------- data
class Generator:
    """Deterministic synthetic queries, graded qrels and runs (one seed; run i does not depend on the others)."""

    def __init__(self, queries: int, docs: int, judged: int = 20, seed: int = 7) -> None:
        self.q, self.d, self.j, self.seed = queries, docs, judged, seed
        self.pool = docs + docs // 2
        rng = np.random.default_rng([seed, 0])
        self.qids = np.array([str(1_000_000 + i) for i in range(queries)], dtype=object)
        self.grades = np.zeros((queries, self.pool), dtype=np.int64)
        self.grades[:, :judged] = rng.choice(4, size=(queries, judged), p=GRADE_P)
        self.grades[:, 0] = np.maximum(self.grades[:, 0], 2)  # every query has a relevant document
        self.difficulty = rng.uniform(0.3, 1.5, size=(queries, 1))

    def doc_ids(self, cols: np.ndarray) -> pa.Array:
        """Numeric doc ids (of varying width), unique per (query, pool position)."""
        ids = (np.arange(self.q)[:, None] * self.pool + cols) * 7 + 3
        return pa.array(ids.ravel()).cast(pa.string())

    def qrels(self) -> pa.Table:
        cols = np.broadcast_to(np.arange(self.j), (self.q, self.j))
        return pa.table({"query_id": np.repeat(self.qids, self.j), "iter": ["0"] * (self.q * self.j),
                         "doc_id": self.doc_ids(cols), "relevance": self.grades[:, : self.j].ravel()})

    def first_stage(self, i: int, quality: float) -> tuple[np.ndarray, np.ndarray]:
        """(pool columns, scores), each queries x docs in score order."""
        rng = np.random.default_rng([self.seed, 1, i])
        latent = quality * self.difficulty * self.grades + rng.standard_normal((self.q, self.pool))
        top = np.argpartition(-latent, self.d - 1, axis=1)[:, : self.d]
        order = np.argsort(-np.take_along_axis(latent, top, axis=1), axis=1, kind="stable")
        cols = np.take_along_axis(top, order, axis=1)
        return cols, np.round(np.take_along_axis(latent, cols, axis=1), 4)

    def rerank(self, cols: np.ndarray, scores: np.ndarray, depth: int, quality: float, i: int):
        """The first stage's top `depth` re-scored and reordered above its unchanged tail."""
        rng = np.random.default_rng([self.seed, 2, i])
        head = cols[:, :depth]
        latent = quality * self.difficulty * np.take_along_axis(self.grades, head, axis=1)
        latent = latent + rng.standard_normal(head.shape)
        order = np.argsort(-latent, axis=1, kind="stable")
        new_cols = cols.copy()
        new_scores = scores.copy()
        new_cols[:, :depth] = np.take_along_axis(head, order, axis=1)
        new_scores[:, :depth] = np.round(100 + np.take_along_axis(latent, order, axis=1), 4)
        return new_cols, new_scores

    def table(self, cols: np.ndarray, scores: np.ndarray, tag: str) -> pa.Table:
        n = cols.size
        return pa.table({"query_id": np.repeat(self.qids, cols.shape[1]), "q0": pa.repeat("Q0", n),
                         "doc_id": self.doc_ids(cols), "rank": np.tile(np.arange(1, cols.shape[1] + 1), self.q),
                         "score": scores.ravel(), "tag": pa.repeat(tag, n)})


def write_space_separated(table: pa.Table, path: Path) -> None:
    pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none"))


def build_store(db: Path, n_runs: int, queries: int, docs: int, *, keep_files: bool = False) -> None:
    """Create or complete the store: collection, every run ingested, every run scored on the defaults."""
    from workbench.collections import add_collection
    from workbench.evaluate import evaluate_runs
    from workbench.ingest import ingest_run
    from workbench.store import Store, list_collections, list_runs

    store = Store(db)
    files = db.with_suffix("")
    files.mkdir(parents=True, exist_ok=True)
    gen = Generator(queries, docs)
    t0 = time.perf_counter()
    if not db.exists() or COLLECTION not in [c.name for c in list_collections(store)]:
        write_space_separated(gen.qrels(), files / "qrels.txt")
        topics = pa.table({"query_id": gen.qids, "text": [f"synthetic query {q}" for q in gen.qids]})
        pacsv.write_csv(topics, files / "topics.tsv",
                        pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"))
        add_collection(store, COLLECTION, qrels=files / "qrels.txt", topics=files / "topics.tsv")
    have = {r.name for r in list_runs(store, COLLECTION)}
    names = run_names(n_runs)
    firsts = [n for n in names if "@" not in n]
    bm25 = None
    for i, name in enumerate(names):
        depth = next((d for d, n in RERANKED if n == name), None)
        if name in have and name != "bm25":
            continue
        if depth is None:
            j = firsts.index(name)
            cols, scores = gen.first_stage(j, 0.4 + 0.8 * (j % QUALITY_STEPS) / (QUALITY_STEPS - 1))
            if name == "bm25":
                bm25 = (cols, scores)
                if name in have:
                    continue
        else:
            cols, scores = gen.rerank(*bm25, depth, 1.6 - depth / 200, i)
        path = files / f"{name}.trec"
        t = time.perf_counter()
        write_space_separated(gen.table(cols, scores, name), path)
        ingest_run(store, COLLECTION, path, name=name, kind="rerank" if depth else "sparse",
                   parent="bm25" if depth else None, depth=depth)
        if not keep_files:
            path.unlink(missing_ok=True)
        print(f"  ingested {name} ({cols.size:,} rows) in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    ev = evaluate_runs(store, COLLECTION, on_run=lambda n, i, total: print(f"  scored {i}/{total}", end="\r",
                                                                          flush=True))
    print(f"  scored {ev.computed} (run, measure) pairs in {time.perf_counter() - t:.1f} s; "
          f"store ready in {time.perf_counter() - t0:.0f} s ({db.stat().st_size / 1e9:.2f} GB)", flush=True)


# ------------------------------------------------------------------------------------------- timing
def time_page(db: Path, page: str) -> tuple[float, float, list[str]]:
    """Seconds for `page`'s script with cold data caches (a first view), then again with warm caches.

    The session renders the page once before (untimed) and the caches are cleared after it: AppTest's own
    start-up (it scans installed packages for components, ~1.5 s here) is not what a page view costs on a server.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["WORKBENCH_DB"] = str(db)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.run()  # the default page first: a switch_page before the first run is ignored (the default renders)
    at.switch_page(f"workbench/app/pages/{page}.py")
    at.run()
    if [t.value for t in at.title] != [TITLES[page]]:
        raise RuntimeError(f"expected the {page} page, got titles {[t.value for t in at.title]}")
    st.cache_data.clear()
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    t = time.perf_counter()
    at.run()
    cached = time.perf_counter() - t
    if [t.value for t in at.title] != [TITLES[page]]:
        raise RuntimeError(f"the {page} page did not stay open: titles {[t.value for t in at.title]}")
    problems = [str(e.value)[:200] for e in at.exception] + [e.value[:200] for e in at.error]
    return first, cached, problems


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    ram = next((int(line.split()[1]) / 1024**2 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), float("nan"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"nproc {os.cpu_count()}, {cpu}, {ram:.1f} GiB RAM, Python {platform.python_version()}, "
            f"load average at the end {load} (the machine is shared)")


def report(rows: list[tuple[str, float, float, list[str]]], reps: int) -> str:
    lines = [f"Median of {reps} sessions; target {TARGET_S:.0f} s per page.", "",
             "| page | first s | cached s | target s | ratio (first / target) | ok |", "|---|---:|---:|---:|---:|---|"]
    for page, first, cached, problems in rows:
        ok = "yes" if first <= TARGET_S else "no"
        if problems:
            ok += " (" + "; ".join(problems)[:120].replace("|", "/") + ")"
        lines.append(f"| {page} | {first:.2f} | {cached:.2f} | {TARGET_S:.0f} | {first / TARGET_S:.2f} | {ok} |")
    return "\n".join(lines) + "\n"


def write_pages_md(section: str, label: str) -> None:
    """Replace (or add) this configuration's section in bench/PAGES.md; other sections stay."""
    path = ROOT / "bench" / "PAGES.md"
    head = ("# Dashboard page timings\n\nWritten by `bench/app_pages.py` (see its docstring). `first`: the page "
            "rendered with cold data caches in a session that showed it once (what opening it costs after a "
            "write to the store); `cached`: the rerun that follows (a widget change that hits the caches).\n\n")
    text = path.read_text() if path.exists() else head
    sections = [s for s in text.split("\n## ")[1:] if not s.startswith(label)]
    path.write_text(text.split("\n## ")[0].rstrip() + "\n\n" + "".join(f"## {s.rstrip()}\n\n" for s in sections)
                    + f"## {label}\n\n{section}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--queries", type=int, default=7000)
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--quick", action="store_true", help="10 runs x 700 queries x 1,000 docs")
    p.add_argument("--reps", type=int, default=3, help="fresh sessions per page (the median is reported)")
    p.add_argument("--pages", nargs="*", default=list(PAGES), choices=PAGES)
    p.add_argument("--build-only", action="store_true")
    p.add_argument("--keep-files", action="store_true", help="keep the generated TREC files in bench-data/")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.queries, args.docs = 10, 700, 1000
    if args.runs < 3:
        p.error("--runs must be at least 3 (bm25, another first stage, a reranked run)")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    db = OUT / f"pages-{args.runs}x{args.queries}x{args.docs}.duckdb"
    print(f"store {db.relative_to(ROOT)}: {args.runs} runs x {args.queries} queries x {args.docs} docs", flush=True)
    build_store(db, args.runs, args.queries, args.docs, keep_files=args.keep_files)
    if args.build_only:
        return 0
    time_page(db, "runs")  # imports (streamlit, altair, scipy, ...) happen once per server, not per page view
    rows = []
    for page in args.pages:
        samples = [time_page(db, page) for _ in range(args.reps)]
        first = statistics.median(s[0] for s in samples)
        cached = statistics.median(s[1] for s in samples)
        problems = sorted({x for s in samples for x in s[2]})
        rows.append((page, first, cached, problems))
        print(f"  {page:12s} first {first:6.2f} s   cached {cached:6.2f} s" + (f"   {problems}" if problems else ""),
              flush=True)
    label = f"{args.runs} runs x {args.queries:,} queries x {args.docs:,} docs"
    section = report(rows, args.reps) + f"\nMachine: {machine()}.\n"
    print(section)
    write_pages_md(section, label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
