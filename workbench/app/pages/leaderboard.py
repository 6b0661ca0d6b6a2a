"""Leaderboard: runs x measures with deltas, significance marks and CIs against baselines, bounds; exports.

Scored against the qrels chosen in the sidebar (judged-only or not); with "Bounds" each measure gains a column with
the value when each run's unjudged documents are relevant, as `workbench leaderboard --bounds` prints it."""

from __future__ import annotations

from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from workbench.app import charts, data
from workbench.app.common import PageContext, against, context, first_stage_default, fmt4, need, plain
from workbench.errors import WorkbenchError
from workbench.export import FORMATS, render
from workbench.export.formats import DEFAULT_PERMUTATIONS
from workbench.export.leaderboard import BOUNDS_LABEL, BOUNDS_SENTENCE, SYMBOLS, Leaderboard
from workbench.scoring import measure_name, parse_measure
from workbench.services.leaderboard import CORRECTIONS, TESTS

PENDING = "_leaderboard_pending_measures"  # the selection to show once a typed measure is scored
EXTENSIONS = {"markdown": ("md", "text/markdown"), "csv": ("csv", "text/csv"), "latex": ("tex", "text/x-tex"),
              "html": ("html", "text/html"), "json": ("json", "application/json")}
RESAMPLES = (1000, DEFAULT_PERMUTATIONS, 100_000)


@st.cache_data(show_spinner=False, max_entries=16)
def table(key: tuple, _lb: Leaderboard, kinds: dict[str, str], show_delta: bool) -> pd.DataFrame:
    """One text cell per run and measure, as in the exports: `0.4796† ★ (+0.0123)`.

    The value leads (4 decimals, integer part left-padded with spaces), so sorting a column sorts by value.
    † etc. mark significance against each baseline, ★ the best value, the bracket (with `show_delta`) the delta to
    the first baseline. With bounds, a column `<measure> if unjudged relevant` follows each measure's.
    """
    lb = _lb
    best = lb.best()
    frame = pd.DataFrame({"run": list(lb.runs), "kind": [kinds.get(r, "") for r in lb.runs]})
    for m in lb.measures:
        values = lb.values.loc[list(lb.runs), m]
        width = len(f"{values.abs().max():.4f}") if values.notna().any() else 6
        cells = []
        for run, v in zip(lb.runs, values, strict=True):
            text = "–" if pd.isna(v) else f"{v:.4f}".rjust(width)
            text += "".join(SYMBOLS[j] for j in lb.marks(run, m))
            if run in best[m]:
                text += " ★"
            if show_delta and lb.baselines and run != lb.baselines[0]:
                text += f"  ({lb.delta(run, m, lb.baselines[0]):+.4f})"
            cells.append(text)
        frame[m] = cells
        if lb.show_ci and lb.significance is not None:
            frame[f"{m} CI"] = [_ci(lb, r, m) for r in lb.runs]
        if lb.bounds is not None:
            frame[bounds_column(m)] = [fmt4(v) for v in lb.bounds.loc[list(lb.runs), m]]
    return frame


def bounds_column(measure: str) -> str:
    """The header of a measure's bounds column, as the CSV export and `leaderboard --bounds` name it."""
    return f"{measure} {BOUNDS_LABEL}"


def _ci(lb: Leaderboard, run: str, m: str) -> str:
    ci = lb.ci(run, m)
    return "" if ci is None or run == lb.baselines[0] else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def add_measure(ctx: PageContext, typed: str, selected: list[str], runs: list[str]) -> None:
    """Validate a typed measure, score it for every run that lacks it (`evaluate_runs`, with a progress bar: the
    only write of this page) and show it. An invalid measure is a one-line message and writes nothing."""

    try:
        name = measure_name(parse_measure(typed))
        todo = [r for r in runs if r not in data.scored_runs(ctx.db, ctx.token, ctx.collection, (name,),
                                                             **ctx.scoring)]
        if todo:
            score_with_progress(ctx, todo, [name], ctx.unjudged)
    except WorkbenchError as exc:
        st.error(plain(exc))
        return
    st.session_state[PENDING] = list(dict.fromkeys([*selected, name]))
    st.rerun()


def score_with_progress(ctx: PageContext, runs: list[str], measures: list[str], unjudged: str) -> None:
    """Score `runs` on `measures` against the sidebar's qrels, unjudged documents as `unjudged`, with a progress
    bar (a write: the page's only kind)."""
    what = plain(", ".join(measures)) + (" if unjudged relevant" if unjudged == "relevant" else "")
    bar = st.progress(0.0, text=f"scoring {what} ...")

    def on_run(run: str, done: int, total: int) -> None:
        bar.progress(done / total, text=f"scoring {what}: {plain(run)} ({done}/{total} runs)")

    data.score_runs(ctx.db, ctx.collection, runs, measures, on_run=on_run, qrels=ctx.qrels, unjudged=unjudged)


ctx = context()
run_infos = ctx.runs()
names = [r.name for r in run_infos]
scored = ctx.measures()
need(bool(scored), "No scores yet: run `workbench evaluate -c COLLECTION` or score runs on the Runs page.")
defaults = [m for m in data.default_measures(ctx.db, ctx.token, ctx.collection) if m in scored] or scored[:3]

pending = st.session_state.pop(PENDING, None)
if pending is not None:  # a measure typed below was just scored: select it (the widget's default yields)
    st.session_state["measures"] = [m for m in pending if m in scored]
    st.session_state["new_measure"] = ""
left, right = st.columns([3, 2])
measures = left.multiselect("Measures", scored, default=defaults if pending is None else None, key="measures",
                            bind="query-params")
baselines = right.multiselect("Baselines (significance marks and deltas against these)", names,
                              default=first_stage_default(run_infos), key="baselines", bind="query-params",
                              max_selections=len(SYMBOLS))
# the default view fits a 1280 px screen with the sidebar open (six measures, 40-character run names): deltas, CIs
# and the runs' kinds widen the table, so each is asked for
d1, d2 = right.columns(2)
show_delta = d1.toggle("Δ in cells", value=False, key="delta", bind="query-params",
                       help="the difference of the run's mean from the first baseline's, in each cell")
show_ci = d2.toggle("CI of Δ columns", value=False, key="ci", bind="query-params",
                    help="a column per measure with the 95% bootstrap CI of the Δ against the first baseline")
# the whole column's width: in half of it the label is cut at 1280 px
show_bounds = right.toggle("Bounds columns (unjudged relevant)", value=False, key="bounds", bind="query-params",
                           disabled=ctx.judged_only,
                           help="a column per measure with the value when each run's unjudged documents within "
                                "the measure's cutoff are relevant at the top grade (`workbench leaderboard "
                                "--bounds`)" + ("; not with judged-only scoring, which drops them"
                                                if ctx.judged_only else ""))
show_bounds = show_bounds and not ctx.judged_only
with st.expander("Significance settings", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    test = c1.selectbox("Paired test", TESTS, key="test", bind="query-params")
    correction = c2.selectbox("Correction", CORRECTIONS, key="correction", bind="query-params",
                              help="Holm/Bonferroni/Benjamini-Hochberg over every comparison in the table")
    alpha = c3.selectbox("alpha", (0.05, 0.01, 0.1), key="alpha", bind="query-params")
    resamples = c4.selectbox("Resamples (CIs, randomisation test)", RESAMPLES, key="resamples",
                             index=RESAMPLES.index(DEFAULT_PERMUTATIONS), bind="query-params",
                             help="permutations of the randomisation test and bootstrap samples of the CIs")
with left.form("add_measure", border=False, enter_to_submit=True):
    f1, f2 = st.columns([4, 1], vertical_alignment="bottom")
    typed = f1.text_input("Score another measure for every run", key="new_measure",
                          placeholder="e.g. P@20, R(rel=2)@100, nDCG@5",
                          help="Any ir-measures name: it is checked, scored for every run that lacks it (the only "
                               "write this page makes) and added to the table.")
    add = f2.form_submit_button("Score", icon=":material/calculate:", width="stretch")
if add and typed.strip():
    add_measure(ctx, typed.strip(), measures, names)
need(bool(measures), "Pick at least one measure.")

complete = data.scored_runs(ctx.db, ctx.token, ctx.collection, tuple(measures), **ctx.scoring)
missing = [n for n in names if n not in complete]
if missing:
    st.warning(f"{len(missing)} run(s) lack scores on these measures{against(ctx)} and are not shown: "
               f"{plain(', '.join(missing[:8]))}{' ...' if len(missing) > 8 else ''}")
    if st.button(f"Score {len(missing)} run(s) on {plain(', '.join(measures))}", key="score_missing"):
        score_with_progress(ctx, missing, measures, ctx.unjudged)
        st.rerun()
need(bool(complete), "No run has scores on every selected measure.")
if show_bounds:  # the other end of each value, stored under its own semantics: scored on request, as above
    bounded = data.scored_runs(ctx.db, ctx.token, ctx.collection, tuple(measures), qrels=ctx.qrels,
                               unjudged="relevant")
    unbounded = [n for n in complete if n not in bounded]
    if unbounded:
        show_bounds = False
        st.warning(f"{len(unbounded)} run(s) lack the values with their unjudged documents relevant{against(ctx)}; "
                   "the bounds columns appear once every run shown has them.")
        if st.button(f"Score the bounds of {len(unbounded)} run(s)", key="score_bounds"):
            score_with_progress(ctx, unbounded, measures, "relevant")
            st.rerun()
baselines = [b for b in baselines if b in complete]
size = data.test_size(ctx.db, ctx.token, ctx.collection, tuple(measures), **ctx.scoring)
if baselines and test != "none" and size > data.significance_budget():
    run_tests = st.toggle(f"Test every run against {plain(', '.join(baselines))} ({size:,} per-query values; takes a "
                          "while on a store this size)", key="run_tests", bind="query-params")
    if not run_tests:
        st.caption("Deltas are shown without significance marks until the tests are switched on.")
        test = "none"

with st.spinner("building the leaderboard ..."):
    lb = data.leaderboard(ctx.db, ctx.token, ctx.collection, tuple(measures), None, tuple(baselines), test,
                          correction, float(alpha), int(resamples), bool(show_ci), **ctx.scoring,
                          bounds=show_bounds)

if lb.significance is not None and not lb.significance.can_be_significant:
    st.warning(lb.significance.legend())  # it says why no mark is possible and how many permutations would do
kinds = {r.name: str(r.kind) for r in run_infos}
config = {"run": st.column_config.TextColumn("run", pinned=True),
          **{bounds_column(m): st.column_config.TextColumn(bounds_column(m), help=plain(BOUNDS_SENTENCE) + ".")
             for m in measures}}
key = (ctx.db, ctx.token, ctx.collection, tuple(measures), tuple(baselines), test, correction, alpha, resamples,
       show_ci, show_delta, ctx.qrels, ctx.judged_only, show_bounds)
board = table(key, lb, kinds, show_delta)
st.dataframe(board, hide_index=True, column_config=config, width="stretch",
             height=min(38 * (len(lb.runs) + 1) + 3, 900),
             column_order=[c for c in board.columns if c != "kind"])  # kind: from the table's column menu
for line in lb.legend():
    st.caption(plain(line.replace("in bold", "marked ★")))

st.subheader("Downloads")
cols = st.columns(len(FORMATS))
for col, fmt in zip(cols, FORMATS, strict=True):
    ext, mime = EXTENSIONS[fmt]
    col.download_button(fmt, partial(render, lb, fmt), file_name=f"leaderboard-{ctx.collection}.{ext}",
                        mime=mime, key=f"dl_{fmt}", icon=":material/download:", width="stretch", on_click="ignore")

st.subheader("Mean with 95% bootstrap CI")
chart_measure = st.selectbox("Measure", measures, key="chart", bind="query-params")
cis = data.mean_intervals(ctx.db, ctx.token, ctx.collection, chart_measure, tuple(lb.runs), int(resamples),
                          **ctx.scoring)
st.caption(f"95% percentile bootstrap CI of each run's mean ({int(resamples):,} samples, seed 0).")
if lb.significance is not None and baselines:
    sig = lb.significance.table
    sig = sig[(sig["baseline"] == baselines[0]) & (sig["measure"] == chart_measure)].set_index("run")

    def verdict(run: str) -> str:
        if run == baselines[0]:
            return f"baseline ({run})"
        if run not in sig.index or not bool(sig.at[run, "significant"]):
            return "not significant"
        return "significantly better" if sig.at[run, "mean_delta"] > 0 else "significantly worse"

    cis = cis.assign(versus=[verdict(r) for r in cis["run"]])
    scale = alt.Scale(domain=[f"baseline ({baselines[0]})", "significantly better", "not significant",
                              "significantly worse"], range=["#555555", charts.WIN, "#90a4ae", charts.LOSS])
    st.altair_chart(charts.bars_with_ci(cis, chart_measure, color_field="versus", color_scale=scale),
                    width="stretch")
else:
    st.altair_chart(charts.bars_with_ci(cis, chart_measure), width="stretch")
