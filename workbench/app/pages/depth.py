"""Depth scaling: a measure against rerank depth k (derived from the first stage and the reranked run)."""

from __future__ import annotations

import importlib.util

import altair as alt
import pandas as pd
import streamlit as st

from workbench.app import data
from workbench.app.common import D3_FMT, FMT, context, need

ctx = context()
st.title("Rerank depth scaling")
run_infos = ctx.runs()
by_name = {r.name: r for r in run_infos}
reranked = [r.name for r in run_infos if r.parent and r.parent in by_name]
need(bool(reranked), "No reranked runs with their first stage in this collection (ingest them with --parent/--depth).")

scored = [m for m in ctx.measures() if not m.startswith("Judged")] or ["nDCG@10"]
default_run = max(reranked, key=lambda n: (by_name[n].depth or 0, n == "bm25__rankvicuna-7b@100"))
c1, c2, c3 = st.columns([3, 3, 1])
run = c1.selectbox("Reranked run", reranked, index=reranked.index(default_run), key="run", bind="query-params",
                   help="runs ingested with a parent (--parent/--depth)")
measures = c2.multiselect("Measures", scored, default=["nDCG@10"] if "nDCG@10" in scored else scored[:1],
                          key="measures", bind="query-params")
judged_k = c3.number_input("Judged@k", min_value=1, max_value=1000, value=10, key="jk", bind="query-params")
info = by_name[run]
st.caption(f"**{run}** reranks the top {info.depth or '?'} of **{info.parent}**.")
siblings = [r.name for r in run_infos if r.parent == info.parent and r.name != run and r.depth]
stem = run.rsplit("@", 1)[0]
observed = st.multiselect(
    "Observed runs (the same reranker at other depths, plotted as points)", siblings,
    default=[s for s in siblings if s.rsplit("@", 1)[0] == stem], key="observed", bind="query-params")
need(bool(measures), "Pick at least one measure.")

pairs: dict[int, str] = {}
for name in observed:
    pairs.setdefault(int(by_name[name].depth), name)
with st.spinner(f"deriving {run} at every depth from {info.parent} ..."):
    curve = data.depth_curve(ctx.db, ctx.token, ctx.collection, info.parent, run, tuple(measures),
                             tuple(sorted(pairs.items())), 1000, int(judged_k))

best = dict(curve.best_depth)
cols = st.columns(len(measures) + 2)
for col, m in zip(cols, measures, strict=False):
    k = best[m]
    col.metric(f"best k for {m}", k, f"{curve.point(m, k).mean:.4f} (vs {curve.point(m, 0).mean:.4f} at k=0)",
               delta_color="off")
cols[-2].metric("reranked depth (k_max)", curve.k_max)
cols[-1].metric(f"{curve.judged_measure} at best k",
                f"{curve.point(curve.judged_measure, best[measures[0]]).mean:.4f}")

frame = curve.to_frame()
derived, seen = frame[frame["source"] == "derived"], frame[frame["source"] == "observed"]
seen = seen.assign(run=[pairs.get(int(k), "") for k in seen["depth"]])
x = alt.X("depth:Q", title="rerank depth k (0 = first stage only)", scale=alt.Scale(type="symlog"),
          axis=alt.Axis(values=list(curve.depths)))
tip = [alt.Tooltip("measure:N"), alt.Tooltip("depth:Q"), alt.Tooltip("mean:Q", format=D3_FMT),
       alt.Tooltip("ci_low:Q", format=D3_FMT, title="CI low"), alt.Tooltip("ci_high:Q", format=D3_FMT, title="CI high")]


def panel(which: list[str], title: str, height: int) -> alt.LayerChart:
    d = derived[derived["measure"].isin(which)]
    o = seen[seen["measure"].isin(which)]
    colour = alt.Color("measure:N", legend=alt.Legend(orient="top", title=None))
    band = alt.Chart(d).mark_area(opacity=0.18).encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=colour)
    line = alt.Chart(d).mark_line(point=True).encode(
        x=x, y=alt.Y("mean:Q", title=title, scale=alt.Scale(zero=False), axis=alt.Axis(format=".3f")),
        color=colour, tooltip=tip)
    layers = [band, line]
    if len(o):
        layers.append(alt.Chart(o).mark_rule(strokeWidth=2).encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=colour))
        layers.append(alt.Chart(o).mark_point(shape="diamond", size=160, filled=True, stroke="black").encode(
            x=x, y="mean:Q", color=colour, tooltip=[alt.Tooltip("run:N", title="observed run"), *tip]))
    bests = pd.DataFrame({"depth": [best[m] for m in which if m in best], "measure": [m for m in which if m in best]})
    if len(bests):
        layers.append(alt.Chart(bests).mark_rule(strokeDash=[5, 4], color="gray").encode(
            x=x, tooltip=[alt.Tooltip("measure:N"), alt.Tooltip("depth:Q", title="best k")]))
    return alt.layer(*layers).properties(height=height)


st.altair_chart(panel(list(measures), " / ".join(measures), 360), width="stretch")
st.caption(f"Lines: {run} applied to the top-k of {info.parent}, derived without rerunning the reranker "
           f"(exact for pointwise rerankers, an approximation for listwise ones). Bands: "
           f"{curve.confidence:.0%} bootstrap CIs over {len(curve.query_ids)} queries ({curve.n_boot} resamples). "
           "Diamonds: runs actually reranked at that depth. Dashed: best k.")
st.altair_chart(panel([curve.judged_measure], curve.judged_measure, 200), width="stretch")
st.caption(f"{curve.judged_measure}: a gain at some depth that comes with a drop here rests on unjudged documents.")

with st.expander("Curve values"):
    table = frame.pivot_table(index=["source", "depth"], columns="measure", values="mean").reset_index()
    shown = (*curve.measures, curve.judged_measure)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={m: st.column_config.NumberColumn(m, format=FMT) for m in shown})

st.subheader("Phantom hits and metric-at-cutoff")
missing = [m for m in ("workbench.analysis.holes", "workbench.analysis.cutoff") if importlib.util.find_spec(m) is None]
if missing:
    st.info(f"Not available yet: {', '.join(f'`{m}`' for m in missing)} (phantom hits list and metric-at-cutoff "
            "curves appear here once the analysis library provides them).")
