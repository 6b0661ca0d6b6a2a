"""Fusion lab: fuse stored runs, compare the fused run with its inputs per query, save it as a run."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from workbench.analysis.compare import compare_pair
from workbench.app import charts, data
from workbench.app.common import D3_FMT, FMT, against, concurrently, context, default_pick, need, plain
from workbench.errors import ConflictError, WorkbenchError
from workbench.services.evaluate import aggregate
from workbench.services.produce import default_runs_dir, fused_run_name, produce
from workbench.store import children

METHODS = ("rrf", "combsum", "combmnz", "interpolation")
NORMS = ("minmax", "zscore", "rank", "none")
BIG_ROWS = 1_000_000

ctx = context()
# every read of the view on one connection (a fresh one to a big store costs ~0.02 s a read); the save below
# writes, so it comes after the block has closed it
with data.store_for(ctx.db).reading():
    run_infos = ctx.runs()
    names = [r.name for r in run_infos]
    need(len(names) >= 2, "Needs at least two runs in the collection.")
    firsts = [r.name for r in run_infos if not r.parent]

    c1, c2, c3 = st.columns([4, 2, 2])
    inputs = c1.multiselect("Input runs", names, default=default_pick(names, ["bm25", "splade-pp-ed", *firsts], 2),
                            key="inputs", bind="query-params")
    method = c2.selectbox("Method", METHODS, key="method", bind="query-params")
    norm = c3.selectbox("Normalisation", NORMS, key="norm", bind="query-params", disabled=method == "rrf",
                        help="per run and query, over the top-depth documents; RRF uses ranks only")
    c4, c5, c6 = st.columns([2, 2, 4])
    k = c4.number_input("RRF k", min_value=0, max_value=1000, value=60, key="k", bind="query-params",
                        disabled=method != "rrf")
    rows = sum(r.n_rows for r in run_infos if r.name in inputs)
    depth = c5.number_input("Depth per input", min_value=1, max_value=10000, value=1000 if rows <= BIG_ROWS else 100,
                            key="depth", bind="query-params",
                            help="documents per query taken from each input (read that deep from the store); "
                                 f"defaults to 100 when the inputs hold over {BIG_ROWS:,} rows")
    weights_text = c6.text_input("Weights (one per input, comma-separated; empty = default)", key="w",
                                 bind="query-params")
    need(len(inputs) >= 2, "Pick at least two input runs.")
    try:
        weights = [float(w) for w in weights_text.replace(" ", "").split(",") if w] or None
    except ValueError:
        st.error(f"weights must be numbers separated by commas, got {plain(repr(weights_text))}")
        st.stop()
    if method == "interpolation" and len(inputs) != 2:
        st.error("interpolation fuses exactly two runs")
        st.stop()

    params: dict[str, object] = {"method": method, "depth": int(depth)}
    if method == "rrf":
        params["k"] = int(k)
    else:
        params["norm"] = None if norm == "none" else norm
    if weights is not None:
        params["weights"] = weights
    measures = tuple(data.default_measures(ctx.db, ctx.token, ctx.collection))
    # a write of other runs keeps the fusion
    fusion_inputs = data.inputs_key(ctx.db, ctx.token, ctx.collection, inputs, ctx.qrels)
    with st.spinner("fusing and scoring ..."):
        (fused_rows, fused_queries, fused_scores), ev = concurrently(
            lambda: data.fused(ctx.db, fusion_inputs, ctx.collection, tuple(sorted(params.items())), measures,
                               ctx.qrels, ctx.unjudged),
            lambda: data.evaluation(ctx.db, ctx.token, ctx.collection, measures, tuple(inputs), **ctx.scoring))
    need(set(inputs) <= set(ev.runs), f"Score the input runs{against(ctx)} first (Leaderboard page or "
                                      "`workbench evaluate`).")
    scores = pd.concat([fused_scores, ev.per_query[["run", "query_id", "measure", "value"]]], ignore_index=True)

    st.subheader("Fused run beside its inputs")
    agg = aggregate(scores).pivot(index="run", columns="measure", values="value").reindex(
        index=["fused", *inputs], columns=list(measures))
    st.dataframe(agg.reset_index(), hide_index=True, width="stretch",
                 column_config={m: st.column_config.NumberColumn(m, format=FMT) for m in measures})
    st.caption(f"fused: {fused_rows:,} rows over {fused_queries:,} "
               f"queries from each input's top {int(depth)}, fused and scored in DuckDB, not stored until saved."
               + (" Measures deeper than that depth see only those documents." if int(depth) < 1000 else ""))

    st.subheader("Where the gains come from")
    measure = st.selectbox("Measure", measures, key="measure", bind="query-params")
    against_rows = []
    parts = []
    of_measure = scores[scores["measure"] == measure]
    for name in inputs:
        cmp = compare_pair(of_measure, "fused", name, measure)
        against_rows.append({"against": name, "wins": cmp.wins, "ties": cmp.ties, "losses": cmp.losses,
                     "mean Δ": cmp.mean_delta, "fused": cmp.mean_a, "input": cmp.mean_b})
        parts.append(cmp.to_frame().assign(against=name))
    st.dataframe(pd.DataFrame(against_rows), hide_index=True, width="stretch",
                 column_config={"mean Δ": st.column_config.NumberColumn(format="%+.4f"),
                                "fused": st.column_config.NumberColumn(format=FMT),
                                "input": st.column_config.NumberColumn(format=FMT)})
    deltas = pd.concat(parts, ignore_index=True)
    if deltas["query_id"].nunique() <= charts.LABELLED_QUERIES:
        order = (deltas.groupby("query_id")["delta"].min().sort_values(ascending=False).index.tolist())
        chart = alt.Chart(deltas).mark_bar().encode(
            x=alt.X("query_id:N", sort=order, title="queries (sorted by the fused run's smallest gain over any input)",
                    axis=alt.Axis(labelAngle=-90)),
            y=alt.Y("delta:Q", title=f"Δ {measure}: fused − input", axis=alt.Axis(format=D3_FMT)),
            xOffset="against:N",
            color=alt.Color("against:N", legend=alt.Legend(orient="top", title="against input")),
            tooltip=["query_id:N", "against:N", alt.Tooltip("value_a:Q", format=D3_FMT, title="fused"),
                     alt.Tooltip("value_b:Q", format=D3_FMT, title="input"), alt.Tooltip("delta:Q", format="+.4f")],
        ).properties(height=320)
    else:  # thousands of queries: the sorted delta curve of each input (bars per query would be a blur)
        chart = charts.delta_curves(deltas, measure, "fused − input")
    st.altair_chart(chart, width="stretch")
    wide = deltas.pivot(index="query_id", columns="against", values="delta")
    st.caption("Queries above zero for every input gained from fusion itself; above for one input only "
               "inherited the other input's strength.")
    with st.expander("Per-query deltas"):
        st.dataframe(wide.reset_index(), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(c, format="%+.4f") for c in wide.columns})

st.subheader("Save as a run")
CONFIRM_KEY = "_fusion_replace"  # a save refused because the name is taken, waiting for the user's confirmation


def save_fused(recipe, *, replace: bool, score_it: bool) -> None:
    """produce() the fused run beside the store; a taken name asks for confirmation instead of replacing."""

    store = data.store_for(ctx.db)
    try:
        with st.spinner(f"writing and ingesting {recipe.name} ..."):
            result = produce(store, recipe, runs_dir=default_runs_dir(store), replace=replace)
            if score_it:
                data.score_runs(ctx.db, ctx.collection, [result.info.name], **ctx.scoring)
    except ConflictError as exc:
        st.session_state[CONFIRM_KEY] = (recipe, score_it, exc.message, children(store, recipe.collection, recipe.name))
        return
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.session_state.pop(CONFIRM_KEY, None)
    st.success(f"{result.status} run {result.info.name} ({result.info.n_rows} rows, "
               f"{result.info.n_queries} queries)")


default_name = fused_run_name(method, inputs)
with st.form("save"):
    name = st.text_input("Run name", value=default_name, key="save_name")
    score_it = st.checkbox(f"Score it on the default measures{against(ctx)}", value=True)
    saved = st.form_submit_button("Save fused run", icon=":material/save:")
if saved:
    from workbench.services.produce import Recipe

    st.session_state.pop(CONFIRM_KEY, None)
    save_fused(Recipe(ctx.collection, name, "fuse", None, tuple(inputs), dict(params)), replace=False,
               score_it=score_it)
if CONFIRM_KEY in st.session_state:
    pending, pending_score, why, kids = st.session_state[CONFIRM_KEY]
    st.warning(f"Not saved: {why}. Replacing it deletes the stored run of that "
               "name and its scores."
               + (f" It is the first stage of {len(kids)} run(s) ({', '.join(kids[:5])}"
                  f"{', ...' if len(kids) > 5 else ''}), made from its current content." if kids else ""),
               icon=":material/warning:")
    yes, no = st.columns(2)
    if yes.button(f"Replace {pending.name}", type="primary", key="confirm_replace", icon=":material/sync:"):
        save_fused(pending, replace=True, score_it=pending_score)
    elif no.button("Keep the stored run", key="cancel_replace"):
        st.session_state.pop(CONFIRM_KEY, None)
        st.rerun()
