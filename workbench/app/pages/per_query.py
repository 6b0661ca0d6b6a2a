"""Per-query comparison of two runs (wins/ties/losses, the paired test with its CI, deltas, scatter) and a win
matrix over several runs."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from workbench.analysis.stats import TEST_TITLES as TEST_NAMES
from workbench.app import charts, data
from workbench.app.common import (
    FMT,
    against,
    context,
    default_pick,
    first_stage_default,
    fmt4,
    link_params,
    need,
    plain,
)
from workbench.app.pages import page_named
from workbench.errors import WorkbenchError

DRILLDOWN = page_named("drilldown")  # linked from the tables and below them
ctx = context()
run_infos = ctx.runs()
names = [r.name for r in run_infos]
scored = ctx.measures()
need(len(names) >= 2 and bool(scored), "Needs at least two scored runs in the collection.")

baseline = first_stage_default(run_infos)
# A: a rerank of the baseline, else another run (never the baseline itself: A = B shows nothing)
others = [n for n in names if not baseline or n != baseline[0]]
challenger = default_pick(others, [n for n in others if baseline and n.startswith(f"{baseline[0]}__")], 1)
c1, c2, c3, c4 = st.columns([3, 3, 2, 1])
a = c1.selectbox("Run A", names, index=names.index(challenger[0]) if challenger else 0, key="a",
                 bind="query-params")
b = c2.selectbox("Run B", names, index=names.index(baseline[0]) if baseline else 1, key="b", bind="query-params")
measure = c3.selectbox("Measure", scored, index=scored.index("nDCG@10") if "nDCG@10" in scored else 0,
                       key="measure", bind="query-params")
tol = c4.number_input("Tie tolerance", min_value=0.0, max_value=1.0, value=0.0, step=0.001, format="%.4f",
                      key="tol", bind="query-params", help="|A − B| ≤ tolerance counts as a tie")
need(a != b, "Pick two different runs.")
have = data.scored_runs(ctx.db, ctx.token, ctx.collection, (measure,), **ctx.scoring)
unscored = [r for r in (a, b) if r not in have]
need(not unscored, f"{plain(', '.join(unscored))} not scored on {plain(measure)}{against(ctx)} yet: score it on the "
                   "Leaderboard page or with `workbench evaluate`.")

cmp = data.pair(ctx.db, ctx.token, ctx.collection, a, b, measure, float(tol), 10, **ctx.scoring)
m = st.columns(6)
m[0].metric("A wins", cmp.wins)
m[1].metric("ties", cmp.ties)
m[2].metric("A losses", cmp.losses)
m[3].metric(f"mean A ({plain(measure)})", fmt4(cmp.mean_a))
m[4].metric(f"mean B ({plain(measure)})", fmt4(cmp.mean_b))
m[5].metric("mean Δ (A − B)", f"{cmp.mean_delta:+.4f}")
st.caption(f"A = **{plain(a)}**, B = **{plain(b)}**, over the {cmp.n_queries} queries both runs are scored on "
           "(judged queries a run misses score 0, as trec_eval -c).")

t1, t2, t3 = st.columns([2, 1, 3], vertical_alignment="bottom")
# the options are the CLI's `--test` names: a bound selectbox writes the label it shows into the URL
test = t1.selectbox("Paired test of A against B", tuple(TEST_NAMES), key="pair_test", bind="query-params")
try:
    tested = data.pair_test(ctx.db, ctx.token, ctx.collection, a, b, measure, test, **ctx.scoring)
except WorkbenchError as exc:  # fewer than two common queries: the counts above still stand
    t2.caption(f"No paired test: {plain(exc)}")
else:
    sig = tested.rows[0]
    t2.metric("p", f"{sig.p_value:.4g}")
    t3.metric("95% CI of the mean Δ (A − B)", f"[{sig.ci_low:+.4f}, {sig.ci_high:+.4f}]")
    verdict = ("not significantly different from" if not sig.significant
               else "significantly better than" if sig.mean_delta > 0 else "significantly worse than")
    permutations = f", {tested.n_resamples:,} permutations" if test == "randomisation" else ""
    st.caption(f"A is {verdict} B at alpha {tested.alpha:g}: {TEST_NAMES[test]}{permutations} over the "
               f"{sig.n_queries} queries (one comparison, so no correction). CI: percentile bootstrap of the mean "
               f"per-query Δ, {tested.n_resamples:,} resamples, seed {tested.seed}; `workbench compare` gives the "
               "same numbers.")

deltas = cmp.to_frame()
left, right = st.columns([3, 2])
left.altair_chart(charts.delta_bars(deltas, a, b, measure), width="stretch")
right.altair_chart(charts.scatter_ab(deltas, a, b, measure), width="stretch")


def changes(rows, label: str) -> pd.DataFrame:
    frame = pd.DataFrame([r.__dict__ for r in rows], columns=["query_id", "value_a", "value_b", "delta"])
    topics = data.topics(ctx.db, ctx.token, ctx.collection).set_index("query_id")["text"]
    frame.insert(1, "query", [topics.get(q, "") for q in frame["query_id"]])
    frame["open"] = [f"{DRILLDOWN.url_path}?" + urlencode({**link_params(ctx), "q": q, "a": a, "b": b})
                     for q in frame["query_id"]]
    frame.insert(0, "", label)
    return frame


st.subheader("Biggest changes")
table = pd.concat([changes(cmp.top_gains, "win"), changes(cmp.top_losses, "loss")], ignore_index=True)
if table.empty:
    st.info("The runs score every query the same.")
else:
    st.dataframe(
        table, hide_index=True, width="stretch",
        column_config={
            "value_a": st.column_config.NumberColumn(f"A: {a}", format=FMT),
            "value_b": st.column_config.NumberColumn(f"B: {b}", format=FMT),
            "delta": st.column_config.NumberColumn("Δ", format="%+.4f"),
            "query": st.column_config.TextColumn("query", width="large"),
            "open": st.column_config.LinkColumn("drill-down", display_text="open ↗"),
        },
    )
    pick = st.selectbox("Open a query side by side", table["query_id"].tolist(),
                        format_func=lambda q: f"{q}  ({table.set_index('query_id').at[q, 'delta']:+.4f})",
                        key="open_q")
    st.page_link(DRILLDOWN.script, label=f"Drill down into query {plain(pick)}", icon=DRILLDOWN.icon,
                 query_params={**link_params(ctx), "q": pick, "a": a, "b": b})

st.subheader("Win matrix")
firsts = [r.name for r in run_infos if not r.parent]
chosen = st.multiselect("Runs", names, default=list(dict.fromkeys([a, b, *firsts]))[:8], key="runs",
                        bind="query-params")
chosen = [r for r in chosen if r in have]  # runs not scored under the sidebar's choice are left out
if len(chosen) >= 2:
    wm = data.matrix(ctx.db, ctx.token, ctx.collection, tuple(chosen), measure, float(tol), **ctx.scoring)
    st.altair_chart(charts.win_heatmap(charts.win_cells(wm), measure), width="stretch")
    st.caption("Each cell: wins / ties / losses of the row run against the column run, per query. Colour: "
               "(wins − losses) / (wins + losses), the balance of the queries that are not ties (green: the row "
               "run wins more of them, red: it loses more, yellow: even or all ties); the ties are counted in "
               "the cell and the tooltip.")
else:
    st.info(f"Pick two or more runs scored on {plain(measure)}{against(ctx)} for the win matrix.")
