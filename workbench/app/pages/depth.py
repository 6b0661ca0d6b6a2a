"""Depth scaling: a measure against rerank depth k (derived from the first stage and the reranked run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urlencode

import altair as alt
import pandas as pd
import streamlit as st

from workbench.analysis.depth import DEFAULT_COST_UNIT, DEFAULT_GAIN_SHARE, RerankCost
from workbench.app import data
from workbench.app.common import D3_FMT, FMT, context, link_params, need, plain
from workbench.app.pages import page_named
from workbench.errors import WorkbenchError
from workbench.services.depth import depth_cut, stated_cost

FAMILIES = ("nDCG", "R", "P")
CUTOFFS = (1, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000)
SHOWN_HITS = 1000

ctx = context()
run_infos = ctx.runs()
by_name = {r.name: r for r in run_infos}
reranked = [r.name for r in run_infos if r.parent and r.parent in by_name]
need(bool(reranked), "No reranked runs with their first stage in this collection (ingest them with --parent/--depth).")

scored = [m for m in ctx.measures() if not m.startswith("Judged")] or ["nDCG@10"]
default_run = max(reranked, key=lambda n: (by_name[n].depth or 0, n == "bm25__rankvicuna-7b@100"))
c1, c2, c3 = st.columns([3, 3, 1])
# keys of their own: the leaderboard's `measures` (AP, ...) or the runs page's `run` must not carry over, since
# a measure without a cutoff makes this page derive whole runs instead of their top k
run = c1.selectbox("Reranked run", reranked, index=reranked.index(default_run), key="reranked", bind="query-params",
                   help="runs ingested with a parent (--parent/--depth)")
measures = c2.multiselect("Measures", scored, default=["nDCG@10"] if "nDCG@10" in scored else scored[:1],
                          key="depth_measures", bind="query-params")
judged_k = c3.number_input("Judged@k", min_value=1, max_value=1000, value=10, key="jk", bind="query-params")
info = by_name[run]
assert info.parent is not None  # `reranked` lists only runs stored with a parent
parent: str = info.parent
st.caption(f"**{plain(run)}** reranks the top {info.depth or '?'} of **{plain(info.parent)}**.")
siblings = [r.name for r in run_infos if r.parent == info.parent and r.name != run and r.depth]
stem = run.rsplit("@", 1)[0]
observed = st.multiselect(
    "Observed runs (the same reranker at other depths, plotted as points)", siblings,
    default=[s for s in siblings if s.rsplit("@", 1)[0] == stem], key="observed", bind="query-params")
need(bool(measures), "Pick at least one measure.")
try:  # a cost the reranked run's ir_metadata header states is the default (cost_per_doc, cost_unit)
    stated = stated_cost(info)
except WorkbenchError as exc:
    stated = None
    st.warning(plain(f"{exc} The cost is left empty."))
c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
share = c1.slider("Share of the largest gain", min_value=0.05, max_value=1.0, value=DEFAULT_GAIN_SHARE, step=0.05,
                  key="gain_share", bind="query-params",
                  help="the smallest depth k whose gain over the first stage reaches this share of the largest gain")
cost_per_doc = c2.number_input("Cost per document", min_value=0.0, value=stated.per_doc if stated else None,
                               format="%g", key="cost_per_doc", placeholder="none given",
                               help="what reranking one document costs (default: cost_per_doc in the run's "
                                    "ir_metadata header); empty: the cost axis counts documents reranked")
unit = c3.text_input("Unit", value=stated.unit if stated else DEFAULT_COST_UNIT, key="cost_unit", max_chars=40,
                     help="the unit of the cost per document, e.g. s, GPU-s, USD").strip() or DEFAULT_COST_UNIT
show_bounds = c4.checkbox("Bounds", key="depth_bounds", bind="query-params",
                          help="each derived depth also scored with its unjudged documents (within the measure's "
                               "cutoff) relevant at the top grade, as `leaderboard --bounds`")
if depth_cut([*measures, f"Judged@{int(judged_k)}"], info.depth, int(judged_k)) is None:
    st.caption(f"{'A measure without a cutoff' if info.depth else 'An undeclared rerank depth'} makes every depth "
               f"variant a whole run ({info.n_rows:,} rows here): slower than cutoff measures, which need only "
               "each run's top documents.")

relevance = next((c.relevance_kind for c in data.collections(ctx.db, ctx.token) if c.name == ctx.collection), "")
qrels = ctx.qrels  # the sidebar's qrels set (None: the collection's own)
if ctx.judged_only:
    st.caption("Judged-only scoring does not apply to the depth study: unjudged documents are counted as "
               "non-relevant, and shown below as Judged@k and phantom hits.")
curve_runs = tuple(dict.fromkeys([parent, run, *observed]))


def curve_key(family: str, rel: int, cutoffs: Sequence[int]) -> tuple[str, tuple[int, ...], int | None]:
    return family, tuple(sorted(int(c) for c in cutoffs)), None if family == "nDCG" else int(rel)


# the cutoff curves at the foot of the page come with the study (from its join, without reading F and R again)
# for the widgets' defaults; another choice there is read when it is made, without computing the study again
# (the study's cache key holds the defaults, not the widgets' values)
DEFAULT_REL = 2 if relevance == "graded" else 1
DEFAULT_CUTOFFS = [c for c in CUTOFFS if c <= 100]
early = curve_key(FAMILIES[0], DEFAULT_REL, DEFAULT_CUTOFFS)
with st.spinner(f"deriving {plain(run)} at every depth from {plain(info.parent)} ..."):
    inputs = data.inputs_key(ctx.db, ctx.token, ctx.collection, curve_runs, qrels)  # F, R, observed: not others
    study, judged, early_curves = data.depth_study(ctx.db, inputs, ctx.collection, run, tuple(measures),
                                                   tuple(observed), int(judged_k), cutoff_curve=early, qrels=qrels,
                                                   bounds=bool(show_bounds))
cost = None
if cost_per_doc is not None:
    source = stated.source if stated and stated.per_doc == cost_per_doc and stated.unit == unit else "the page"
    cost = RerankCost(float(cost_per_doc), unit.replace("\n", " "), source)


def cutoff_view(family: str, rel: int, cutoffs: Sequence[int]):
    key = curve_key(family, rel, cutoffs)
    if early_curves is not None and key == early and set(curve_runs) <= set(early_curves["run"]):
        return early_curves[early_curves["run"].isin(curve_runs)]
    return data.cutoff_curves(ctx.db, inputs, ctx.collection, *key, qrels=qrels)


curve = study.curve
pairs = study.observed_runs

# a k is "best" only when it is significantly better than the first stage (see DepthStudy.best)
verdicts = study.best()
best = {m: v.depth for m, v in verdicts.items() if v.depth is not None}
cols = st.columns(len(measures) + 2)
for col, m in zip(cols, measures, strict=False):
    v = verdicts[m]
    diff = "" if v.shown is None else f"{v.delta:+.4f} [{v.ci_low:+.4f}, {v.ci_high:+.4f}] vs k=0"
    col.metric(f"best k for {m}", v.depth if v.depth is not None else "none",
               diff if v.depth is not None or v.shown is None else f"highest mean at k={v.shown}: {diff}",
               delta_color="off", help=plain(v.sentence(info.parent)))
cols[-2].metric("reranked depth (k_max)", curve.k_max)
judged_at = best.get(measures[0], verdicts[measures[0]].shown)
if judged_at is not None:
    cols[-1].metric(f"{curve.judged_measure} at {'best k' if measures[0] in best else f'k={judged_at}'}",
                    f"{curve.point(curve.judged_measure, judged_at).mean:.4f}")
no_best = [m for m in measures if m not in best]
if no_best:
    said = [verdicts[m].sentence(info.parent) for m in no_best]
    st.info(plain(" ".join(f"{s[:1].upper()}{s[1:]}." for s in said)))

frame = curve.to_frame()
derived, seen = frame[frame["source"] == "derived"], frame[frame["source"] == "observed"]
seen = seen.assign(run=[pairs.get(int(k), "") for k in seen["depth"]])
x = alt.X("depth:Q", title="rerank depth k (0 = first stage only)", scale=alt.Scale(type="symlog"),
          axis=alt.Axis(values=list(curve.depths)))
tip = [alt.Tooltip("measure:N"), alt.Tooltip("depth:Q"), alt.Tooltip("mean:Q", format=D3_FMT),
       alt.Tooltip("ci_low:Q", format=D3_FMT, title="CI low"), alt.Tooltip("ci_high:Q", format=D3_FMT, title="CI high")]


shown_name = {c: m for c, m in zip(curve.measures, measures, strict=False)}
bound_rows = (pd.DataFrame(columns=["measure", "depth", "value"]) if study.bounds is None
              else study.bounds.assign(measure=study.bounds["measure"].map(lambda m: shown_name.get(m, m))))


def cost_panel(costed, cost: RerankCost | None) -> None:
    """Quality against cost: each measure's derived curve against what reranking k documents per query costs
    (documents reranked when no cost is given), the smallest k reaching the share of the largest gain marked, and
    the level it had to reach."""
    st.subheader("Quality against cost")
    smallest = costed.smallest()
    cols = st.columns(len(curve.measures))
    unit = cost.unit if cost else "documents"
    marks, levels = [], []
    for col, m in zip(cols, curve.measures, strict=False):
        s = smallest[m]
        name = shown_name.get(m, m)
        per_query = "" if s.depth is None else (f"{s.cost_per_query:g} {unit} per query" if cost
                                                else f"{s.depth} documents per query")
        per_query += "; gain not significant" if s.significant is False else ""
        col.metric(f"smallest k reaching {s.gain_share:.0%} of the largest gain ({name})",
                   "none" if s.depth is None else s.depth,
                   per_query or "no depth gains", delta_color="off", delta_arrow="off",
                   help=plain(s.sentence(info.parent)))
        if s.depth is not None:
            marks.append({"measure": name, "depth": s.depth, "mean": s.mean,
                          "cost": s.cost_per_query if cost else s.depth,
                          "k interval": f"[{s.depth_ci_low}, {s.depth_ci_high}]"})
            levels.append({"measure": name, "level": s.first_stage_mean + s.target})
    d = derived[derived["measure"].isin(list(measures))]
    d = d.assign(cost=d["depth"] * (cost.per_doc if cost else 1))
    title = f"cost per query ({unit}): k x {cost.per_doc:g} {unit}" if cost else "documents reranked per query (k)"
    cx = alt.X("cost:Q", title=title, scale=alt.Scale(type="symlog"))
    colour = alt.Color("measure:N", legend=alt.Legend(orient="top", title=None))
    tips = [alt.Tooltip("measure:N"), alt.Tooltip("depth:Q", title="k"), alt.Tooltip("cost:Q", title=unit),
            alt.Tooltip("mean:Q", format=D3_FMT)]
    layers = [alt.Chart(d).mark_area(opacity=0.18).encode(x=cx, y="ci_low:Q", y2="ci_high:Q", color=colour),
              alt.Chart(d).mark_line(point=True).encode(
                  x=cx, y=alt.Y("mean:Q", title=" / ".join(measures), scale=alt.Scale(zero=False),
                                axis=alt.Axis(format=".3f")), color=colour, tooltip=tips)]
    if levels:
        layers.append(alt.Chart(pd.DataFrame(levels)).mark_rule(strokeDash=[5, 4]).encode(
            y="level:Q", color=colour, tooltip=[alt.Tooltip("measure:N"),
                                                alt.Tooltip("level:Q", format=D3_FMT, title="level to reach")]))
    if marks:
        layers.append(alt.Chart(pd.DataFrame(marks)).mark_point(size=260, shape="circle", filled=False,
                                                                strokeWidth=3).encode(
            x=cx, y="mean:Q", color=colour,
            tooltip=[*tips, alt.Tooltip("k interval:N", title=f"{costed.curve.confidence:.0%} interval of k")]))
    st.altair_chart(alt.layer(*layers).properties(height=320), width="stretch")
    where = "" if cost is None else f" The cost per document comes from {plain(cost.source)}."
    st.caption(f"Each depth k of the curve above at the cost of reranking k documents per query (the budget: a "
               f"query with fewer documents costs less). Circled: the smallest k whose gain over "
               f"{plain(info.parent)} reaches {share:.0%} of the largest gain (dashed: the level it must reach); "
               f"its interval is the rule applied to each of the curve's {costed.curve.n_boot:,} bootstrap "
               f"resamples (a resample in which no depth gains counts as k = 0).{where}")


def panel(which: list[str], title: str, height: int) -> alt.LayerChart | alt.FacetChart:
    d = derived[derived["measure"].isin(which)]
    o = seen[seen["measure"].isin(which)]
    colour = alt.Color("measure:N", legend=alt.Legend(orient="top", title=None))
    band = alt.Chart(d).mark_area(opacity=0.18).encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=colour)
    line = alt.Chart(d).mark_line(point=True).encode(
        x=x, y=alt.Y("mean:Q", title=title, scale=alt.Scale(zero=False), axis=alt.Axis(format=".3f")),
        color=colour, tooltip=tip)
    layers = [band, line]
    high = bound_rows[bound_rows["measure"].isin(which)]
    if len(high):
        layers.append(alt.Chart(high).mark_line(strokeDash=[2, 3]).encode(
            x=x, y="value:Q", color=colour,
            tooltip=[alt.Tooltip("measure:N"), alt.Tooltip("depth:Q"),
                     alt.Tooltip("value:Q", format=D3_FMT, title="if unjudged relevant")]))
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
st.caption(f"Lines: {plain(run)} applied to the top-k of {plain(info.parent)}, derived without rerunning the reranker "
           f"(exact for pointwise rerankers, an approximation for listwise ones). Bands: "
           f"{curve.confidence:.0%} bootstrap CIs over {len(curve.query_ids):,} queries ({curve.n_boot:,} samples). "
           "Diamonds: runs actually reranked at that depth. Dashed: best k (significantly better than k=0)."
           + (" Dotted: each depth with its unjudged documents relevant at the top grade (the other end of the "
              "bounds)." if study.bounds is not None else ""))

cost_panel(replace(study, gain_share=float(share), cost=cost), cost)
st.altair_chart(panel([curve.judged_measure], curve.judged_measure, 200), width="stretch")
st.caption(f"{curve.judged_measure}: a gain at some depth that comes with a drop here rests on unjudged documents.")

with st.expander("Curve values, paired tests against the first stage (depth 0)"):
    table = study.table()
    shown = (*curve.measures, curve.judged_measure)
    wide = table.pivot_table(index=["source", "depth"], columns="measure", values="mean").reset_index()
    tests = table[table["measure"] == curve.measures[0]].set_index(["source", "depth"])["p_adjusted"]
    wide[f"p vs k=0 ({curve.measures[0]})"] = [tests.get((s, d)) for s, d in zip(wide["source"], wide["depth"],
                                                                                 strict=True)]
    st.dataframe(wide, hide_index=True, width="stretch",
                 column_config={**{m: st.column_config.NumberColumn(m, format=FMT) for m in shown},
                                f"p vs k=0 ({curve.measures[0]})": st.column_config.NumberColumn(format="%.4g")})
    st.caption(plain(f"p: adjusted p-value. {study.legend()}") + f" derived@0 is {plain(info.parent)}.")

st.subheader(f"Judgment holes: {curve.judged_measure} and phantom hits")
left, right = st.columns([5, 7])
with left:
    jframe = judged.to_frame()
    st.dataframe(jframe, hide_index=True, width="stretch",
                 column_config={"depth": st.column_config.NumberColumn("depth k"),
                                "judged": st.column_config.NumberColumn(curve.judged_measure, format=FMT),
                                "unjudged_in_top_k": st.column_config.NumberColumn(
                                    "unjudged", help=f"unjudged documents in the top {judged.k}, all queries"),
                                "phantom_hits": st.column_config.NumberColumn(
                                    "phantom hits", help=f"unjudged documents in the top {judged.k} that "
                                                         f"{plain(info.parent)}'s top {judged.k} lacked"),
                                "queries_with_phantoms": st.column_config.NumberColumn(
                                    "queries", help="queries with at least one phantom hit")})
    st.caption(f"Over {judged.n_queries} judged queries. A gain that comes with more phantom hits rests on "
               "documents no assessor saw (scored as non-relevant).")
with right:
    hits = study.phantom_hits
    if hits.empty:
        st.success(f"No unjudged document enters the top {judged.k} at depth {curve.k_max}.")
    else:
        total, n_queries = len(hits), hits["query_id"].nunique()
        hits = hits.head(SHOWN_HITS)  # a table of tens of thousands of rows says no more than its first page
        topics = data.topics(ctx.db, ctx.token, ctx.collection).set_index("query_id")["text"]
        drilldown = page_named("drilldown").url_path
        hits = hits.assign(query=hits["query_id"].map(topics).fillna(""),
                           open=[f"{drilldown}?" + urlencode({**link_params(ctx), "q": q, "a": run,
                                                              "b": info.parent}) for q in hits["query_id"]])
        st.markdown(f"**{total} phantom hits** in {n_queries} queries: unjudged documents "
                    f"that {plain(run)} (depth {curve.k_max}) moves into the top {judged.k} from below it in "
                    f"{plain(info.parent)}." + (f" The first {SHOWN_HITS} are listed; `workbench depth --json` has all."
                                         if total > SHOWN_HITS else ""))
        st.dataframe(hits[["query_id", "query", "doc_id", "old_rank", "new_rank", "open"]], hide_index=True,
                     width="stretch", height=min(35 * (len(hits) + 1) + 3, 390),
                     column_config={"query_id": st.column_config.TextColumn("query_id", width="small"),
                                    "old_rank": st.column_config.NumberColumn(
                                        "was", help=f"rank in {plain(info.parent)}"),
                                    "new_rank": st.column_config.NumberColumn("now", help=f"rank in {plain(run)}"),
                                    "query": st.column_config.TextColumn("query", width="medium"),
                                    "open": st.column_config.LinkColumn("drill-down", display_text="open ↗")})

st.subheader("Measure at cutoff")
c1, c2, c3 = st.columns([1, 1, 3])
family = c1.selectbox("Measure family", FAMILIES, key="family", bind="query-params")
rel = c2.number_input("Relevant from grade", min_value=1, max_value=3, value=DEFAULT_REL,
                      key="rel", bind="query-params", disabled=family == "nDCG",
                      help="binary threshold of R and P (rel=2 for TREC DL); nDCG uses the grades")
cutoffs = c3.multiselect("Cutoffs", CUTOFFS, default=DEFAULT_CUTOFFS, key="cutoffs",
                         bind="query-params")
need(bool(cutoffs), "Pick at least one cutoff.")
cut = cutoff_view(family, rel, cutoffs)
st.altair_chart(alt.Chart(cut).mark_line(point=True).encode(
    x=alt.X("cutoff:Q", title="cutoff k", scale=alt.Scale(type="log"), axis=alt.Axis(values=sorted(cutoffs))),
    y=alt.Y("mean:Q", title=f"{family}@k", axis=alt.Axis(format=".3f")),
    color=alt.Color("run:N", sort=list(curve_runs), legend=alt.Legend(orient="top", title=None, labelLimit=300)),
    tooltip=["run:N", "measure:N", alt.Tooltip("mean:Q", format=D3_FMT)],
).properties(height=300), width="stretch")
st.caption(f"Mean over judged queries of {family}@k for the first stage, the reranked run and the observed runs: "
           f"where in the ranking the reranker gains. Reads each run only {max(cutoffs)} deep.")
