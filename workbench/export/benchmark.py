"""The leaderboard of a benchmark: systems x collections on one measure, with the mean over collections, the mean
rank, the Borda count and a bootstrap interval of each system's rank; rendered to Markdown, CSV, LaTeX, HTML and
JSON with the single-collection leaderboard's conventions (4 decimals in text, full precision in JSON, names
escaped, a legend that says how every aggregate was made).
"""

from __future__ import annotations

import html
import io
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from workbench.export.leaderboard import (
    fixed4,
    html_page,
    json_number,
    json_text,
    latex_escape,
    latex_number,
    render_as,
    sort_key,
)

MISSING = "missing"
INCOMPLETE = "*"
RANK_TITLES = {"mean": "the mean over collections", "borda": "the Borda count", "mean-rank": "the mean rank"}


@dataclass(frozen=True)
class BenchmarkBoard:
    """One measure over a benchmark's collections; rows are systems in rank order (incomplete systems last)."""

    benchmark: str
    measure: str  # as asked for
    canonical: str  # ir-measures' spelling
    semantics: str
    collections: tuple[str, ...]
    qrels_hashes: dict[str, str]
    systems: tuple[str, ...]
    values: pd.DataFrame  # systems x collections: the mean over the collection's queries; NaN: missing
    n_queries: pd.DataFrame  # systems x collections (NaN: missing)
    ranks: pd.DataFrame  # systems x collections: rank among the systems present (ties averaged)
    runs: pd.DataFrame  # systems x collections: the run that stands for the system (None: missing)
    aggregates: pd.DataFrame  # index system: mean, mean_rank, borda, n_collections, complete, rank, rank_low, rank_high
    rank_by: str
    n_resamples: int
    seed: int
    confidence: float
    evaluators: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    mapped: dict[str, dict[str, str]] = field(default_factory=dict)  # collection -> run -> system (given mapping)
    description: str = ""

    def render(self, fmt: str = "markdown") -> str:
        """The table as markdown, csv, latex, html or json (what `workbench leaderboard --benchmark -f` writes)."""
        return render(self, fmt)

    def _repr_markdown_(self) -> str:
        return to_markdown(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per system: its aggregates, then its mean on each collection (NaN: missing)."""
        return pd.concat([self.aggregates, self.values.add_prefix(f"{self.measure} ")], axis=1)

    def text_table(self) -> tuple[list[str], list[list[str]]]:
        """(header, rows) as the text formats show them: 4 decimals, ranks in parentheses, `missing`, `*`."""
        return _header(self), [_row_texts(self, s) for s in self.systems]

    def incomplete(self) -> list[str]:
        return [s for s in self.systems if not bool(self.aggregates.at[s, "complete"])]

    def legend(self) -> list[str]:
        """What the table shows, one sentence a line."""
        where = ", ".join(f"{c} (qrels sha256 {self.qrels_hashes[c][:12]})" for c in self.collections)
        lines = [f"Benchmark {self.benchmark}: {self.measure} on {where}; semantics {self.semantics}.",
                 f"Each collection's column: the system's mean {self.measure} over the collection's queries, and in "
                 "parentheses its rank among the systems with a run in that collection (1 = best, ties averaged).",
                 "mean: over the collections; mean rank: of the per-collection ranks; Borda: in each collection one "
                 "point for every system present that it beats and half a point for each tie, summed over the "
                 "collections.",
                 f"Ranked by {RANK_TITLES[self.rank_by]} among the systems with a run in every collection; rank "
                 f"{self.confidence:.0%} CI: percentile interval of the rank over {self.n_resamples:,} bootstrap "
                 f"samples, queries resampled within each collection (the k-th collection, counted from 0, with "
                 f"seed {self.seed} + k)."]
        incomplete = self.incomplete()
        if incomplete:
            lines.append(f"{MISSING}: the system has no run in that collection. {INCOMPLETE} incomplete "
                         f"({len(incomplete)} system(s)): aggregates over the collections the system has, not "
                         "ranked (not comparable with the complete systems').")
        if self.mapped:
            pairs = "; ".join(f"in {c}, {run} as {system}" for c, runs in self.mapped.items()
                              for run, system in runs.items())
            lines.append(f"Systems matched by run name, except: {pairs}.")
        return lines

    def to_dict(self) -> dict:
        rows = []
        for s in self.systems:
            a = self.aggregates.loc[s]
            cells = {}
            for c in self.collections:
                run = self.runs.at[s, c]
                cells[c] = ({"missing": True} if _missing(self, s, c) else
                            {"run": run, "value": json_number(self.values.at[s, c]),
                             "n_queries": int(self.n_queries.at[s, c]), "rank": json_number(self.ranks.at[s, c])})
            rows.append({"system": s, "complete": bool(a["complete"]), "n_collections": int(a["n_collections"]),
                         "rank": _int(a["rank"]), "rank_ci": [_int(a["rank_low"]), _int(a["rank_high"])],
                         "mean": json_number(a["mean"]), "mean_rank": json_number(a["mean_rank"]),
                         "borda": json_number(a["borda"]),
                         "collections": cells})
        return {"benchmark": self.benchmark, "description": self.description, "measure": self.measure,
                "canonical": self.canonical, "semantics": self.semantics, "collections": list(self.collections),
                "qrels_hashes": self.qrels_hashes, "rank_by": self.rank_by,
                "bootstrap": {"samples": self.n_resamples, "seed": self.seed, "confidence": self.confidence,
                              "resampled": "queries within each collection; collection k with seed + k"},
                "mapping": self.mapped, "evaluators": self.evaluators, "versions": self.versions,
                "legend": self.legend(), "rows": rows}


def _int(v) -> int | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)


def _rank_text(board: BenchmarkBoard, s: str) -> str:
    return "" if math.isnan(board.aggregates.at[s, "rank"]) else str(int(board.aggregates.at[s, "rank"]))


def _interval_text(board: BenchmarkBoard, s: str) -> str:
    low, high = board.aggregates.at[s, "rank_low"], board.aggregates.at[s, "rank_high"]
    return "" if math.isnan(low) else f"[{int(low)}, {int(high)}]"


def _missing(board: BenchmarkBoard, s: str, c: str) -> bool:
    return bool(pd.isna(board.runs.at[s, c]))


def _cell(board: BenchmarkBoard, s: str, c: str) -> str:
    if _missing(board, s, c):
        return MISSING
    return f"{fixed4(board.values.at[s, c])} ({board.ranks.at[s, c]:g})"


def _aggregate_texts(board: BenchmarkBoard, s: str) -> list[str]:
    a = board.aggregates.loc[s]
    flag = "" if a["complete"] else f" {INCOMPLETE}"
    return [f"{fixed4(a['mean'])}{flag}", f"{a['mean_rank']:.2f}{flag}", f"{a['borda']:g}{flag}"]


def _header(board: BenchmarkBoard) -> list[str]:
    ci = f"rank {board.confidence:.0%} CI"
    return ["rank", "system", *board.collections, "mean", "mean rank", "Borda", ci]


def _row_texts(board: BenchmarkBoard, s: str) -> list[str]:
    return [_rank_text(board, s), s, *[_cell(board, s, c) for c in board.collections],
            *_aggregate_texts(board, s), _interval_text(board, s)]


def to_markdown(board: BenchmarkBoard) -> str:
    header = _header(board)
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in header) + " |",
             "|" + "|".join(["---:", "---"] + ["---:"] * (len(header) - 2)) + "|"]
    for s in board.systems:
        lines.append("| " + " | ".join(t.replace("|", "\\|") for t in _row_texts(board, s)) + " |")
    return "\n".join([*lines, "", *board.legend()]) + "\n"


def to_csv(board: BenchmarkBoard) -> str:
    """Plain numbers, one row per system; a collection where the system is missing has empty cells."""
    frame = pd.DataFrame(index=pd.Index(list(board.systems), name="system"))
    agg = board.aggregates.loc[list(board.systems)]
    frame["rank"] = agg["rank"].astype("Int64")
    frame["rank_ci_low"] = agg["rank_low"].astype("Int64")
    frame["rank_ci_high"] = agg["rank_high"].astype("Int64")
    frame["complete"] = agg["complete"].astype(bool)
    frame["n_collections"] = agg["n_collections"].astype(int)
    frame["mean"] = agg["mean"].round(4)
    frame["mean_rank"] = agg["mean_rank"].round(4)
    frame["borda"] = agg["borda"]
    for c in board.collections:
        frame[c] = board.values.loc[list(board.systems), c].round(4)
        frame[f"{c} rank"] = board.ranks.loc[list(board.systems), c]
        frame[f"{c} run"] = board.runs.loc[list(board.systems), c]
    buf = io.StringIO()
    frame.to_csv(buf, lineterminator="\n")
    return buf.getvalue()


def _latex_label(board: BenchmarkBoard) -> str:
    return "tab:benchmark-" + (re.sub(r"[^A-Za-z0-9]+", "-", board.benchmark).strip("-") or "benchmark")


def to_latex(board: BenchmarkBoard) -> str:
    """A booktabs table float with a caption in plain words and a label."""
    e = latex_escape
    caption = (f"{e(board.measure)} of {len(board.systems)} systems on the {len(board.collections)} collections of "
               f"benchmark {e(board.benchmark)}, each with its rank in the collection in parentheses; ranked by "
               f"{RANK_TITLES[board.rank_by]} among the systems with a run in every collection, with the "
               f"{board.confidence * 100:g}\\% bootstrap interval of the rank ({board.n_resamples:,} samples, queries "
               "resampled within each collection). Borda: one point per system beaten in a collection, half per "
               "tie.")
    if board.incomplete():
        caption += (f" {INCOMPLETE}: incomplete, aggregates over the collections the system has, not ranked; "
                    f"{MISSING}: no run in that collection.")
    lines = [f"% Benchmark {e(board.benchmark)} exported by the retrieval evaluation workbench; needs "
             "\\usepackage{booktabs}.",
             "% " + e("; ".join(f"{c} qrels sha256 {board.qrels_hashes[c]}" for c in board.collections)),
             f"% semantics {e(board.semantics)}",
             r"\begin{table}[t]", r"\centering", r"\caption{" + caption + "}", r"\label{" + _latex_label(board) + "}",
             r"\begin{tabular}{rl" + "r" * (len(board.collections) + 4) + "}", r"\toprule",
             " & ".join(["Rank", "System", *[e(c) for c in board.collections], "Mean", "Mean rank", "Borda",
                         "Rank CI"]) + r" \\", r"\midrule"]
    for s in board.systems:
        cells = [e(t) for t in _row_texts(board, s)]
        lines.append(" & ".join(latex_number(c) for c in cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(board: BenchmarkBoard) -> str:
    """A standalone UTF-8 page, sortable by any column (the leaderboard's style and script); names escaped."""
    esc = html.escape
    header = _header(board)
    numeric = {0, *range(2, len(header))}
    head = [f'<th scope="col"{" data-numeric" if i in numeric else ""}><button type="button">{esc(h)}</button></th>'
            for i, h in enumerate(header)]
    body = []
    for s in board.systems:
        a = board.aggregates.loc[s]
        sort = [a["rank"], None, *[board.values.at[s, c] for c in board.collections], a["mean"], a["mean_rank"],
                a["borda"], a["rank_low"]]
        cells = []
        for i, (text, key) in enumerate(zip(_row_texts(board, s), sort, strict=True)):
            if i == 1:
                cells.append(f'<th scope="row">{esc(text)}</th>')
            else:
                cells.append(f'<td data-sort="{sort_key(key)}">{esc(text)}</td>')
        body.append(("<tr>" if a["complete"] else '<tr class="incomplete">') + "".join(cells) + "</tr>")
    title = f"Benchmark: {board.benchmark} ({board.measure})"
    return html_page(title, f"{title}: {len(board.systems)} systems, {len(board.collections)} collections", head, body,
                     board.legend(), style=".leaderboard tr.incomplete { color: #666; }\n")


def to_json(board: BenchmarkBoard) -> str:
    return json_text(board.to_dict())


RENDERERS = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html, "json": to_json}


def render(board: BenchmarkBoard, fmt: str) -> str:
    return render_as(RENDERERS, board, fmt)
