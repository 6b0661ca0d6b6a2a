"""Query drill-down: one query's judgments and the top-N of two runs side by side (like diffir)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench.app import data
from workbench.app.common import FMT, against, context, default_pick, first_stage_default, need, plain

GRADE_COLOURS = {3: "rgba(27, 94, 32, 0.45)", 2: "rgba(46, 125, 50, 0.30)", 1: "rgba(129, 199, 132, 0.30)",
                 0: "rgba(198, 40, 40, 0.15)"}
UNJUDGED = "unjudged"


def side(rows: pd.DataFrame, other: pd.DataFrame, grades: dict[str, int], n: int) -> pd.DataFrame:
    """Top-n rows of one run with grade and where the other run ranks each document."""
    top = rows[rows["position"] <= n]
    where = dict(zip(other["doc_id"], other["position"], strict=True))
    out = pd.DataFrame({
        "rank": top["position"].astype(int).to_numpy(),
        "doc_id": top["doc_id"].to_numpy(),
        "grade": [str(grades[d]) if d in grades else UNJUDGED for d in top["doc_id"]],
        "score": top["score"].to_numpy(),
        "other": [where.get(d) for d in top["doc_id"]],
    })
    out["move"] = [_move(r, o) for r, o in zip(out["rank"], out["other"], strict=True)]
    return out


def _move(rank: int, other: float | None) -> str:
    if other is None or pd.isna(other):
        return "new"
    diff = int(other) - int(rank)
    return "=" if diff == 0 else (f"▲ {diff}" if diff > 0 else f"▼ {-diff}")


def style(frame: pd.DataFrame):
    def colour(col: pd.Series) -> list[str]:
        return [f"background-color: {GRADE_COLOURS.get(int(v), '')}" if v != UNJUDGED
                else "color: #8a6d00; font-style: italic" for v in col]

    return frame.style.apply(colour, subset=["grade"]).format({"score": "{:.4f}", "other": "{:.0f}"}, na_rep="—")


ctx = context()
run_infos = ctx.runs()
names = [r.name for r in run_infos]
need(bool(names), "No runs in this collection yet.")
topics = data.topics(ctx.db, ctx.token, ctx.collection)
qrels = data.judgments(ctx.db, ctx.token, ctx.collection, ctx.qrels)  # the sidebar's set: grades and queries
texts = dict(zip(topics["query_id"], topics["text"], strict=True))
labels = data.query_labels(ctx.db, ctx.token, ctx.collection, qrels=ctx.qrels)  # judged: id -> "id · text"
need(bool(labels), "The collection has no judged queries.")

c1, c2, c3, c4 = st.columns([4, 3, 3, 1])
# the picker lists "id · text", so typing words of a query finds it; the URL keeps the id alone (`q`), synced by
# hand: a widget bound to the URL would write its label there and read only labels back
ids = list(labels)
asked = st.query_params.get("q")
query_id = c1.selectbox("Query (judged; type words of its text or its id)", ids, key="query",
                        index=ids.index(asked) if asked in labels else 0, format_func=labels.__getitem__)
st.query_params["q"] = query_id
baseline = first_stage_default(run_infos)
challenger = default_pick(names, [n for n in names if baseline and n.startswith(f"{baseline[0]}__")], 1)
a = c2.selectbox("Run A", names, index=names.index(challenger[0]), key="a", bind="query-params")
b = c3.selectbox("Run B", names, index=names.index(baseline[0]) if baseline else 0, key="b", bind="query-params")
top_n = c4.number_input("Top N", min_value=1, max_value=1000, value=10, key="n", bind="query-params")

st.subheader(f"“{plain(texts[query_id])}”" if query_id in texts else "(no topic text)")
grades = {d: int(g) for d, g in qrels.loc[qrels["query_id"] == query_id, ["doc_id", "relevance"]].to_numpy()}
levels = pd.Series(list(grades.values())).value_counts().sort_index(ascending=False)
st.caption(f"query {plain(query_id)} · {len(grades)} judged documents{against(ctx)} (" +
           ", ".join(f"grade {g}: {c}" for g, c in levels.items()) + ")")

scored = data.measures(ctx.db, ctx.token, ctx.collection, ctx.qrels)  # scored against the sidebar's qrels
if scored:
    ev = data.evaluation(ctx.db, ctx.token, ctx.collection, tuple(scored), tuple(dict.fromkeys([a, b])),
                         **ctx.scoring)
    here = ev.per_query[ev.per_query["query_id"] == query_id]
    wide = here.pivot(index="run", columns="measure", values="value").reindex(columns=scored)
    if not wide.empty:
        st.dataframe(wide.reindex([r for r in (a, b) if r in wide.index]), width="stretch",
                     column_config={m: st.column_config.NumberColumn(m, format=FMT) for m in scored})

rows = data.query_rows(ctx.db, ctx.token, ctx.collection, tuple(dict.fromkeys([a, b])), query_id)
rows_a, rows_b = rows[rows["run"] == a], rows[rows["run"] == b]
left, right = st.columns(2)
config = {"rank": st.column_config.NumberColumn("#", width="small"),
          "other": st.column_config.NumberColumn("rank in other", help="position in the other run (— absent)"),
          "move": st.column_config.TextColumn("move", help="▲ n: this run ranks it n places higher than the other")}
for col, name, mine, theirs in ((left, a, rows_a, rows_b), (right, b, rows_b, rows_a)):
    col.markdown(f"**{plain(name)}** — {len(mine)} documents retrieved")
    if mine.empty:
        col.info("This run retrieved nothing for this query.")
        continue
    shown = side(mine, theirs, grades, int(top_n))
    unjudged = int((shown["grade"] == UNJUDGED).sum())
    col.dataframe(style(shown), hide_index=True, width="stretch", column_config=config,
                  height=min(35 * (len(shown) + 1) + 3, 740))
    col.caption(f"{unjudged} of the top {len(shown)} unjudged" if unjudged else f"all top {len(shown)} judged")

st.subheader("Document text")
shown_ids = list(dict.fromkeys([*rows_a.loc[rows_a["position"] <= top_n, "doc_id"],
                                *rows_b.loc[rows_b["position"] <= top_n, "doc_id"]]))
doc_id = st.selectbox("Document", shown_ids, key="doc", index=None, placeholder="pick a document to read it",
                      format_func=lambda d: f"{d}  (grade {grades[d]})" if d in grades else f"{d}  (unjudged)")
if doc_id:
    docs = data.documents(ctx.db, ctx.token, ctx.collection, (doc_id,))
    if docs.empty:
        st.info("The collection has no text for this document.")
    else:
        doc = docs.iloc[0]
        with st.container(border=True):
            if doc["title"]:
                st.markdown(f"**{plain(doc['title'])}**")
            st.markdown(plain(doc["text"], lines=True))

with st.expander(f"All {len(grades)} judged documents of this query"):
    judged_frame = pd.DataFrame({"doc_id": list(grades), "grade": list(grades.values())})
    for name, mine in ((a, rows_a), (b, rows_b)):
        pos = dict(zip(mine["doc_id"], mine["position"], strict=True))
        judged_frame[f"rank in {name}"] = [pos.get(d) for d in judged_frame["doc_id"]]
    judged_frame = judged_frame.sort_values(["grade", "doc_id"], ascending=[False, True])
    st.dataframe(judged_frame, hide_index=True, width="stretch")
