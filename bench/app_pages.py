#!/usr/bin/env python3
"""Dashboard page timings on a big synthetic store: does every page answer within 1 s?

    .venv/bin/python bench/app_pages.py                 # 100 runs x 7,000 queries x 1,000 docs (the target)
    .venv/bin/python bench/app_pages.py --quick         # 10 runs x 700 queries x 1,000 docs
    .venv/bin/python bench/app_pages.py --runs 30 --queries 2000 --docs 1000 --reps 3

Builds (once; reused while its parameters match) bench-data/pages-R-Q-D.duckdb from bench/gen_data.py, the
project's benchmark workload: its qrels and its first-stage runs are the files
`gen_data.py --queries Q --depth D --runs R-2` writes, byte for byte (generated here one run at a time, so the
disk never holds more than two of them). Two reranked runs of one mid-quality first stage (top 100 and top 20
re-scored by a better model of gen_data's kind, the tail kept) are added, with parent and depth recorded. Every
run is stored by the library's `ingest_run` (the code path of `workbench ingest`), then scored by
`evaluate_runs` (that of `workbench evaluate`). Each page is then opened with streamlit's AppTest: the first
render (cold st.cache_data) and a rerun (warm cache), the median of --reps fresh sessions each. The table goes
to stdout and bench/PAGES.md with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gen_data  # bench/gen_data.py, beside this script
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-data"
sys.path.insert(0, str(ROOT))  # this checkout's workbench (the page registry below), before any installed one
from workbench.app.pages import PAGES as REGISTRY  # noqa: E402  (the dashboard's pages, registered once)
from workbench.app.pages import page_named  # noqa: E402

PAGES = tuple(p.name for p in REGISTRY)
TITLES = {p.name: p.title for p in REGISTRY}
TARGET_S = 1.0
COLLECTION = "bench"
RERANKED = (100, 20)  # depths of the two reranked runs of PARENT
RERANK_QUALITY = 3.0  # gen_data's best first stage has quality 2.2
GEN = dict(judged_mean=50, qmin=0.4, qmax=2.2, corpus_size=8_841_823, seed=20240601, score_decimals=6)


# ------------------------------------------------------------------------------------------- data
class Workload:
    """gen_data.py's workload for --queries/--depth/--runs, one run at a time (its main(), unrolled)."""

    def __init__(self, queries: int, depth: int, runs: int) -> None:
        self.depth, self.runs = depth, runs
        s_qrels, s_diff, s_runs = np.random.SeedSequence(GEN["seed"]).spawn(3)
        rng = np.random.Generator(np.random.PCG64(s_qrels))
        self.qids, self.qrels = gen_data.make_qrels(rng, queries, GEN["judged_mean"], GEN["corpus_size"])
        self.difficulty = np.random.Generator(np.random.PCG64(s_diff)).lognormal(0.0, 0.4, size=queries)
        self.seeds = s_runs.spawn(runs)

    @property
    def parent(self) -> int:
        """The first stage that is reranked: a middling one, so reranking it has something to gain."""
        return self.runs // 5

    def name(self, i: int) -> str:
        return f"run_{i:02d}"

    def write_qrels(self, path: Path) -> None:
        with open(path, "w") as f:
            for qid, (docs, grades) in zip(self.qids, self.qrels, strict=True):
                f.write("".join(f"{qid} 0 {d} {g}\n" for d, g in zip(docs.tolist(), grades.tolist(), strict=True)))

    def first_stage(self, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Run i's (docids, latent scores) per query: what gen_data.py writes as runs/run_i.txt."""
        quality = GEN["qmin"] + (GEN["qmax"] - GEN["qmin"]) * (i / (self.runs - 1) if self.runs > 1 else 0.5)
        rng = np.random.Generator(np.random.PCG64(self.seeds[i]))
        return list(gen_data.make_run(rng, self.qrels, self.depth, quality, self.difficulty, GEN["corpus_size"]))

    def reranked(self, first: list[tuple[np.ndarray, np.ndarray]], depth: int):
        """The first stage's top `depth` re-scored with gen_data's score model at a higher quality, above its tail."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([GEN["seed"], depth])))
        for (docs, lat), (jdocs, grades), diff in zip(first, self.qrels, self.difficulty, strict=True):
            head = docs[:depth]
            order_j = np.argsort(jdocs)
            pos = np.clip(np.searchsorted(jdocs, head, sorter=order_j), 0, len(jdocs) - 1)
            hit = jdocs[order_j[pos]] == head
            grade = np.where(hit, grades[order_j[pos]], 0)
            q = RERANK_QUALITY * diff
            new = 0.8 * q * grade + 0.6 * hit + rng.standard_normal(len(head)) + 30.0  # scores above the tail's
            order = np.argsort(-new, kind="stable")
            yield np.concatenate([head[order], docs[depth:]]), np.concatenate([new[order], lat[depth:]])

    def write(self, i: int, path: Path, depth: int | None = None) -> Path:
        """Write first stage i (or its rerank at `depth`) as gen_data.py would; returns the path."""
        per_query, tag = self.first_stage(i), f"run{i:02d}"  # gen_data's tag
        if depth is not None:
            per_query, tag = self.reranked(per_query, depth), path.stem
        gen_data.write_run(path, self.qids, per_query, tag, GEN["score_decimals"])
        return path


def plan(wl: Workload) -> list[tuple[str, int, int | None]]:
    """(name, first stage, rerank depth) in store order: the parent and its reranked runs first, so a partly
    built store already serves every page."""
    p = wl.parent
    rest = [(wl.name(i), i, None) for i in range(wl.runs) if i != p]
    return [(wl.name(p), p, None), *((f"{wl.name(p)}__rr@{d}", p, d) for d in RERANKED), *rest]


def build_store(db: Path, n_runs: int, queries: int, docs: int, *, keep_files: bool = False) -> None:
    """Create or complete the store: collection, every run ingested, every run scored on the defaults."""
    from workbench.services.collection import add_collection
    from workbench.services.evaluate import evaluate_runs
    from workbench.services.ingest import ingest_run
    from workbench.store import Store, list_collections, list_runs

    store = Store(db)
    files = db.with_suffix("")
    files.mkdir(parents=True, exist_ok=True)
    wl = Workload(queries, docs, n_runs - len(RERANKED))
    t0 = time.perf_counter()
    if not db.exists() or COLLECTION not in [c.name for c in list_collections(store)]:
        wl.write_qrels(files / "qrels.txt")
        (files / "topics.tsv").write_text("".join(f"{q}\tsynthetic query {q}\n" for q in wl.qids))
        add_collection(store, COLLECTION, qrels=files / "qrels.txt", topics=files / "topics.tsv")
    have = {r.name for r in list_runs(store, COLLECTION)}
    todo = [(name, i, depth) for name, i, depth in plan(wl) if name not in have]
    parent = wl.name(wl.parent)
    # gen_data's Python writer (~15 s a run) works one run ahead in another process while this one ingests
    with ProcessPoolExecutor(1) as pool:
        ahead = [pool.submit(wl.write, i, files / f"{name}.txt", depth) for name, i, depth in todo[:2]]
        for k, (name, _, depth) in enumerate(todo):
            path = ahead[k].result()
            if k + 2 < len(todo):
                name2, i2, depth2 = todo[k + 2]
                ahead.append(pool.submit(wl.write, i2, files / f"{name2}.txt", depth2))
            t = time.perf_counter()
            result = ingest_run(store, COLLECTION, path, name=name, kind="rerank" if depth else "sparse",
                                parent=parent if depth else None, depth=depth)
            if not keep_files:
                path.unlink(missing_ok=True)
            print(f"  ingested {name} ({result.info.n_rows:,} rows) in {time.perf_counter() - t:.1f} s "
                  f"[{k + 1}/{len(todo)}, {time.perf_counter() - t0:.0f} s]", flush=True)
    t = time.perf_counter()
    ev = evaluate_runs(store, COLLECTION, on_run=lambda n, i, total: print(f"  scored {i}/{total}", end="\r",
                                                                          flush=True))
    print(f"  scored {ev.computed} (run, measure) pairs in {time.perf_counter() - t:.1f} s; "
          f"store ready in {time.perf_counter() - t0:.0f} s ({db.stat().st_size / 1e9:.2f} GB)", flush=True)


# ------------------------------------------------------------------------------------------- timing
def time_page(db: Path, page: str) -> tuple[float, float, float, list[str]]:
    """Seconds for `page`'s script with cold data caches (a first view), again with warm caches, and once more
    after a write to the store that leaves the page's runs alone (the file's mtime moved, as a CLI ingest of
    another run moves it: reads keyed by the store's version are read again, views keyed by their inputs' content
    are not).

    The session renders the page once before (untimed) and the caches are cleared after it: AppTest's own
    start-up (it scans installed packages for components, ~1.5 s here) is not what a page view costs on a server.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["WORKBENCH_DB"] = str(db)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.run()  # the default page first: a switch_page before the first run is ignored (the default renders)
    at.switch_page(str(page_named(page).script))
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
    os.utime(db)  # what the dashboard sees of a write: Store.version_token() changes
    t = time.perf_counter()
    at.run()
    after_write = time.perf_counter() - t
    if [t.value for t in at.title] != [TITLES[page]]:
        raise RuntimeError(f"the {page} page did not stay open: titles {[t.value for t in at.title]}")
    problems = [str(e.value)[:200] for e in at.exception] + [e.value[:200] for e in at.error]
    return first, cached, after_write, problems


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    ram = next((int(line.split()[1]) / 1024**2 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), float("nan"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"nproc {os.cpu_count()}, {cpu}, {ram:.1f} GiB RAM, Python {platform.python_version()}, "
            f"load average at the end {load} (the machine is shared)")


def report(rows: list[tuple[str, float, float, float, list[str]]], reps: int) -> str:
    lines = [f"Median of {reps} sessions; target {TARGET_S:.0f} s per page.", "",
             "| page | first s | cached s | after a write s | target s | ratio (first / target) | ok |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for page, first, cached, after_write, problems in rows:
        ok = "yes" if first <= TARGET_S else "no"
        if problems:
            ok += " (" + "; ".join(problems)[:120].replace("|", "/") + ")"
        lines.append(f"| {page} | {first:.2f} | {cached:.2f} | {after_write:.2f} | {TARGET_S:.0f} | "
                     f"{first / TARGET_S:.2f} | {ok} |")
    return "\n".join(lines) + "\n"


def write_pages_md(section: str, label: str) -> None:
    """Replace (or add) this configuration's section in bench/PAGES.md; other sections stay."""
    path = ROOT / "bench" / "PAGES.md"
    head = ("# Dashboard page timings\n\nWritten by `bench/app_pages.py` (see its docstring). `first`: the page "
            "rendered with cold data caches in a session that showed it once (what opening it costs after a "
            "write to the store that touched its runs); `cached`: the rerun that follows (a widget change that "
            "hits the caches); `after a write`: the rerun after a write that left the page's runs alone (a CLI "
            "ingest of another run).\n\n")
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
    os.chdir(ROOT)
    db = OUT / f"pages-gen-{args.runs}x{args.queries}x{args.docs}.duckdb"
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
        after_write = statistics.median(s[2] for s in samples)
        problems = sorted({x for s in samples for x in s[3]})
        rows.append((page, first, cached, after_write, problems))
        print(f"  {page:12s} first {first:6.2f} s   cached {cached:6.2f} s   after a write {after_write:6.2f} s"
              + (f"   {problems}" if problems else ""), flush=True)
    label = f"{args.runs} runs x {args.queries:,} queries x {args.docs:,} docs"
    section = report(rows, args.reps) + f"\nMachine: {machine()}.\n"
    print(section)
    write_pages_md(section, label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
