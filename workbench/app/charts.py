"""Altair chart builders (presentation only: every number comes from the library)."""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from workbench.analysis.compare import WinMatrix
from workbench.app.common import D3_FMT

WIN, TIE, LOSS = "#2e7d32", "#9e9e9e", "#c62828"


def bars_with_ci(frame: pd.DataFrame, measure: str, *, color_field: str | None = None,
                 color_scale: alt.Scale | None = None) -> alt.Chart:
    """Horizontal bars of `mean` per `run` (sorted, best on top) with ci_low..ci_high error bars."""
    order = frame.sort_values("mean", ascending=False)["run"].tolist()
    y = alt.Y("run:N", sort=order, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False))
    tooltip = [alt.Tooltip("run:N"), alt.Tooltip("mean:Q", format=D3_FMT, title=measure),
               alt.Tooltip("ci_low:Q", format=D3_FMT, title="CI low"),
               alt.Tooltip("ci_high:Q", format=D3_FMT, title="CI high")]
    color = (alt.Color(f"{color_field}:N", scale=color_scale or alt.Undefined, title=None,
                       legend=alt.Legend(orient="bottom")) if color_field else alt.value("#4c78a8"))
    base = alt.Chart(frame)
    bars = base.mark_bar(opacity=0.85).encode(x=alt.X("mean:Q", title=measure, axis=alt.Axis(format=D3_FMT)),
                                              y=y, color=color, tooltip=tooltip)
    errors = base.mark_rule(color="black", strokeWidth=1.5).encode(x="ci_low:Q", x2="ci_high:Q", y=y)
    ticks = base.mark_tick(color="black", thickness=1.5, size=10, orient="vertical")
    return (bars + errors + ticks.encode(x="ci_low:Q", y=y) + ticks.encode(x="ci_high:Q", y=y)).properties(
        height=alt.Step(24))


LABELLED_QUERIES = 80
"""Up to this many queries a per-query chart has one labelled bar per query; beyond, a sorted delta curve."""


def delta_bars(deltas: pd.DataFrame, a: str, b: str, measure: str) -> alt.Chart:
    """Per-query delta (A - B) sorted by delta; green wins, red losses.

    One bar per query up to LABELLED_QUERIES; beyond, bars at query positions 1..n on a quantitative axis (the
    sorted delta curve): thousands of ordinal categories make a spec (a sort list per query) that costs more
    to build and draw than the chart says.
    """
    frame = deltas.assign(outcome=pd.cut(deltas["delta"], [-float("inf"), -1e-12, 1e-12, float("inf")],
                                         labels=["loss", "tie", "win"]).astype(str))
    frame = frame.sort_values(["delta", "query_id"], ascending=[False, True]).reset_index(drop=True)
    n = len(frame)
    if n <= LABELLED_QUERIES:
        xs: dict[str, Any]
        xs = {"x": alt.X("query_id:N", sort=frame["query_id"].tolist(), title=f"queries, sorted by delta ({n})",
                         axis=alt.Axis(labelAngle=-90))}
    else:  # each bar spans [position, position + 1) on a quantitative axis
        frame["position"], frame["next"] = range(n), range(1, n + 1)
        xs = {"x": alt.X("position:Q", title=f"{n} queries, sorted by delta", scale=alt.Scale(domain=[0, n]),
                         axis=alt.Axis(format="d")), "x2": "next:Q"}
    return alt.Chart(frame).mark_bar().encode(
        **xs,
        y=alt.Y("delta:Q", title=f"Δ {measure}  ({a} − {b})", axis=alt.Axis(format=D3_FMT)),
        color=alt.Color("outcome:N", scale=alt.Scale(domain=["win", "tie", "loss"], range=[WIN, TIE, LOSS]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("query_id:N"), alt.Tooltip("value_a:Q", format=D3_FMT, title=a),
                 alt.Tooltip("value_b:Q", format=D3_FMT, title=b),
                 alt.Tooltip("delta:Q", format="+.4f", title="delta")],
    ).properties(height=300)


def delta_curves(deltas: pd.DataFrame, measure: str, label: str) -> alt.Chart:
    """Each `against` group's per-query deltas sorted descending, as a line over query positions 1..n."""
    frame = deltas.sort_values(["against", "delta"], ascending=[True, False]).reset_index(drop=True)
    frame["position"] = frame.groupby("against").cumcount() + 1
    return alt.Chart(frame).mark_line(interpolate="step-after").encode(
        x=alt.X("position:Q", title="queries, each input's deltas sorted", axis=alt.Axis(format="d")),
        y=alt.Y("delta:Q", title=f"Δ {measure}: {label}", axis=alt.Axis(format=D3_FMT)),
        color=alt.Color("against:N", legend=alt.Legend(orient="top", title="against input")),
        tooltip=["query_id:N", "against:N", alt.Tooltip("delta:Q", format="+.4f")],
    ).properties(height=320)


def scatter_ab(deltas: pd.DataFrame, a: str, b: str, measure: str) -> alt.Chart:
    """Value of B (x) against A (y) per query, with the diagonal y = x; points above it are A's wins."""
    hi = max(1.0, float(deltas[["value_a", "value_b"]].to_numpy().max()) if len(deltas) else 1.0)
    diag = alt.Chart(pd.DataFrame({"x": [0.0, hi], "y": [0.0, hi]})).mark_line(
        color="gray", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")
    frame = deltas.assign(outcome=["win" if d > 0 else "loss" if d < 0 else "tie" for d in deltas["delta"]])
    points = alt.Chart(frame).mark_circle(size=60, opacity=0.75).encode(
        x=alt.X("value_b:Q", title=f"{b}  ({measure})", scale=alt.Scale(domain=[0, hi]),
                axis=alt.Axis(format=".2f")),
        y=alt.Y("value_a:Q", title=f"{a}  ({measure})", scale=alt.Scale(domain=[0, hi]),
                axis=alt.Axis(format=".2f")),
        color=alt.Color("outcome:N", scale=alt.Scale(domain=["win", "tie", "loss"], range=[WIN, TIE, LOSS]),
                        legend=None),
        tooltip=[alt.Tooltip("query_id:N"), alt.Tooltip("value_a:Q", format=D3_FMT, title=a),
                 alt.Tooltip("value_b:Q", format=D3_FMT, title=b),
                 alt.Tooltip("delta:Q", format="+.4f", title="delta")],
    )
    return (diag + points).properties(height=340)


def win_cells(wm: WinMatrix) -> pd.DataFrame:
    """The off-diagonal cells of a win matrix, long: row, col, wins, ties, losses, n, `net` = (wins - losses) /
    (wins + losses) (0 when every query ties) and the `label` wins/ties/losses. Ties do not count against the row
    run: 79 wins and 26 losses with 195 ties is a net of +0.50, not a win share of 0.26."""
    wins, ties, losses, n = (np.asarray(getattr(wm, w)) for w in ("wins", "ties", "losses", "n_queries"))
    rows, cols = np.nonzero(~np.eye(len(wm.runs), dtype=bool))
    w, t, lo = wins[rows, cols], ties[rows, cols], losses[rows, cols]
    decided = w + lo
    names = np.asarray(wm.runs, dtype=object)
    net = np.divide(w - lo, decided, out=np.zeros(len(w)), where=decided > 0)
    frame = pd.DataFrame({"row": names[rows], "col": names[cols], "wins": w, "ties": t, "losses": lo,
                          "n": n[rows, cols], "net": net})
    frame["label"] = [f"{a}/{b}/{c}" for a, b, c in zip(w, t, lo, strict=True)]
    return frame


def win_heatmap(frame: pd.DataFrame, measure: str) -> alt.LayerChart | alt.FacetChart:
    """Row run against column run (`win_cells`), coloured by the net balance of the non-tied queries."""
    runs = list(dict.fromkeys(frame["row"]))
    size = 34 * len(runs) + 190  # the height includes the axes (Streamlit fits the chart to it)
    base = alt.Chart(frame).encode(
        x=alt.X("col:N", sort=runs, title="… against this run", axis=alt.Axis(labelAngle=-40, labelLimit=200)),
        y=alt.Y("row:N", sort=runs, title="wins of this run …", axis=alt.Axis(labelLimit=260),
                scale=alt.Scale(paddingInner=0.05)),
    ).properties(height=size)
    rect = base.mark_rect().encode(
        color=alt.Color("net:Q", title=["(wins − losses)", "/ non-ties"],
                        scale=alt.Scale(scheme="redyellowgreen", domain=[-1, 1], domainMid=0)),
        tooltip=[alt.Tooltip("row:N", title="run"), alt.Tooltip("col:N", title="against"), "wins:Q", "ties:Q",
                 "losses:Q", alt.Tooltip("net:Q", format="+.2f", title="(wins − losses) / non-ties"),
                 alt.Tooltip("n:Q", title="queries")],
    )
    text = base.mark_text(fontSize=11).encode(text="label:N")
    return alt.layer(rect, text).properties(height=size, title=f"wins / ties / losses on {measure}")
