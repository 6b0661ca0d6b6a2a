"""Benchmark: systems x the collections of a benchmark on one measure, with the mean over collections, the mean
rank, the Borda count and a bootstrap interval of each system's rank (the table `leaderboard --benchmark` writes).

Reads stored scores; runs without a stored score on the measure are listed and scored on request (the page's only
write, through the same library call as the CLI)."""

from __future__ import annotations

from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from workbench.app import data
from workbench.app.common import context, need, plain
from workbench.errors import WorkbenchError
from workbench.export import FORMATS
from workbench.export.benchmark import BenchmarkBoard, render
from workbench.export.formats import DEFAULT_BOOTSTRAP, RANK_BY
from workbench.services.benchmark import benchmark_leaderboard
from workbench.store import BenchmarkInfo, list_benchmarks

EXTENSIONS = {"markdown": ("md", "text/markdown"), "csv": ("csv", "text/csv"), "latex": ("tex", "text/x-tex"),
              "html": ("html", "text/html"), "json": ("json", "application/json")}
RESAMPLES = (1000, DEFAULT_BOOTSTRAP)
RANK_LABELS = {"mean": "mean over collections", "borda": "Borda count", "mean-rank": "mean rank"}


@st.cache_data(show_spinner=False, max_entries=16)
def benchmarks(db: str, token: data.Token) -> list[BenchmarkInfo]:
    return list_benchmarks(data.store_for(db))


@st.cache_data(show_spinner=False, max_entries=16)
def board(db: str, token: data.Token, name: str, measure: str, rank_by: str, n_resamples: int,
          systems: tuple[str, ...]) -> BenchmarkBoard:
    """The stored scores only (`score=False`): opening the page writes nothing."""

    return benchmark_leaderboard(data.store_for(db), name, measure, rank_by=rank_by, n_resamples=n_resamples,
                                 systems=systems or None, score=False)


def unscored(db: str, token: data.Token, info: BenchmarkInfo, measure: str) -> dict[str, list[str]]:
    """{collection: runs without a stored score on `measure`}."""
    out = {}
    for c in info.collections:
        have = set(data.scored_runs(db, token, c, (measure,)))
        missing = [r.name for r in data.runs(db, token, c) if r.name not in have]
        if missing:
            out[c] = missing
    return out


def score_missing(db: str, info: BenchmarkInfo, measure: str) -> None:
    with st.spinner(f"scoring {plain(measure)} on the runs of {plain(info.name)} ..."):
        benchmark_leaderboard(data.store_for(db), info.name, measure, n_resamples=1)
    st.rerun()


def interval_chart(b: BenchmarkBoard) -> alt.Chart:
    ranked = b.aggregates[b.aggregates["complete"]].reset_index()
    points = alt.Chart(ranked).encode(y=alt.Y("system:N", sort=list(ranked["system"]), title=None))
    bars = points.mark_rule(strokeWidth=2).encode(x=alt.X("rank_low:Q", title="rank (1 = best)",
                                                          scale=alt.Scale(zero=False)), x2="rank_high:Q")
    dots = points.mark_point(filled=True, size=60).encode(
        x="rank:Q", tooltip=["system", "rank", "rank_low", "rank_high"])
    return (bars + dots).properties(height=max(120, 24 * len(ranked)))


ctx = context()
infos = benchmarks(ctx.db, ctx.token)
need(bool(infos), "No benchmarks in this store yet: define one with `workbench benchmark add NAME COLLECTION ...` "
                  "or in the manifest's `benchmarks:` section.")
by_name = {i.name: i for i in infos}
left, mid, right = st.columns([2, 2, 2])
name = left.selectbox("Benchmark", list(by_name), key="benchmark", bind="query-params")
info = by_name[name]
stored = {c.name for c in data.collections(ctx.db, ctx.token)}
gone = [c for c in info.collections if c not in stored]
need(not gone, f"Benchmark {plain(name)} names collection(s) the store no longer holds: {plain(', '.join(gone))}.")
scored = list(dict.fromkeys(m for c in info.collections for m in data.measures(ctx.db, ctx.token, c)))
need(bool(scored), "No measure is scored in the collections of this benchmark yet: run `workbench leaderboard "
                   f"--benchmark {plain(name)} -m nDCG@10` (it scores what is missing).")
measure = mid.selectbox("Measure", scored, index=scored.index("nDCG@10") if "nDCG@10" in scored else 0,
                        key="measure", bind="query-params")
rank_by = right.selectbox("Rank by", RANK_BY, format_func=lambda r: RANK_LABELS[r], key="rank_by", bind="query-params")
every = sorted({r.name for c in info.collections for r in data.runs(ctx.db, ctx.token, c)})
systems = st.multiselect("Systems (matched by run name; default: all)", every, key="systems", bind="query-params",
                         help="the systems to rank; the others take no part in any rank or count")
with st.expander("Bootstrap settings", expanded=False):
    resamples = st.selectbox("Bootstrap samples (queries resampled within each collection, seed 0)", RESAMPLES,
                             index=RESAMPLES.index(DEFAULT_BOOTSTRAP), key="resamples", bind="query-params")
if info.description:
    st.caption(plain(info.description))

lacking = unscored(ctx.db, ctx.token, info, measure)
if lacking:
    listed = "; ".join(f"{c}: {', '.join(runs[:6])}{' ...' if len(runs) > 6 else ''}" for c, runs in lacking.items())
    st.warning(f"Runs without a stored {plain(measure)} are shown as missing: {plain(listed)}")
    if st.button(f"Score them on {plain(measure)}", key="score_missing"):
        score_missing(ctx.db, info, measure)

try:
    with st.spinner("ranking ..."):
        b = board(ctx.db, ctx.token, name, measure, rank_by, int(resamples), tuple(systems))
except WorkbenchError as exc:
    st.error(plain(exc))
    st.stop()

header, rows = b.text_table()
st.dataframe(pd.DataFrame(rows, columns=header), hide_index=True, width="stretch",
             height=min(38 * (len(rows) + 1) + 3, 900),
             column_config={"system": st.column_config.TextColumn("system", pinned=True)})
for line in b.legend():
    st.caption(plain(line))

st.subheader("Downloads")
cols = st.columns(len(FORMATS))
for col, fmt in zip(cols, FORMATS, strict=True):
    ext, mime = EXTENSIONS[fmt]
    col.download_button(fmt, partial(render, b, fmt), file_name=f"benchmark-{name}.{ext}", mime=mime,
                        key=f"dl_{fmt}", icon=":material/download:", width="stretch", on_click="ignore")

if b.aggregates["complete"].any():
    st.subheader(f"Rank with its {b.confidence:.0%} bootstrap interval")
    st.altair_chart(interval_chart(b), width="stretch")
