"""Leaderboards: one result object, rendered to Markdown, CSV, LaTeX (booktabs), HTML and JSON.

Runs are rows, measures are columns, the best value per column is marked, and with baselines each cell gains
its delta and significance marks (a symbol per baseline, explained in a legend that states test, samples,
correction and alpha). Text formats print numbers to 4 decimals, as trec_eval prints them; JSON keeps full
precision (a p-value of 1e-7 is not 0). HTML is a standalone page and LaTeX a booktabs table with a label, both
pasted as they are, so every name in them is escaped.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.analysis.stats import can_be_significant, significance_legend
from workbench.errors import WorkbenchError
from workbench.export.formats import FORMATS

SYMBOLS = ("†", "‡", "§", "¶", "♯", "♮")
LATEX_SYMBOLS = (r"\dagger", r"\ddagger", r"\S", r"\P", r"\sharp", r"\natural")


@dataclass(frozen=True)
class Significance:
    """Pairwise tests against baselines, corrected together across one table."""

    table: pd.DataFrame  # baseline, run, measure, mean_delta, ci_low, ci_high, p_value, p_adjusted, significant
    test: str
    correction: str
    alpha: float
    n_comparisons: int
    seed: int | None = None
    n_resamples: int | None = None  # permutations of the randomisation test and bootstrap samples of the CIs
    confidence: float = 0.95

    @property
    def permutations(self) -> int | None:
        """Permutations of the randomisation test (None for the other tests)."""
        return self.n_resamples if self.test.startswith("random") else None

    @property
    def can_be_significant(self) -> bool:
        """False when the test's resolution alone rules out every mark (see analysis.stats.can_be_significant)."""
        return can_be_significant(self.test, self.permutations, self.n_comparisons, self.alpha, self.correction)

    def legend(self) -> str:
        """Test, permutations, correction, alpha and family size; says so when no mark is possible."""
        text = significance_legend(self.test, self.permutations, self.correction, self.alpha, self.n_comparisons)
        if self.permutations is not None and self.seed is not None:
            text = text.replace(" permutations),", f" permutations, seed {self.seed}),", 1)
        return text


@dataclass(frozen=True)
class Leaderboard:
    collection: str
    qrels_hash: str
    semantics: str
    measures: tuple[str, ...]
    runs: tuple[str, ...]
    values: pd.DataFrame  # index run, columns measure (aggregate)
    n_queries: pd.DataFrame  # same shape
    evaluators: dict[str, str]
    versions: dict[str, str]
    baselines: tuple[str, ...] = ()
    significance: Significance | None = None
    show_ci: bool = False
    extra: dict = field(default_factory=dict)
    bounds: pd.DataFrame | None = None  # like values: each run scored with its unjudged documents relevant
    bounds_semantics: str | None = None
    qrels: str | None = None  # the named qrels set scored against (None: the collection's own)
    canonical: dict[str, str] = field(default_factory=dict)  # name shown -> ir-measures' (absent: the same)

    def render(self, fmt: str = "markdown") -> str:
        """The table as markdown, csv, latex, html or json (what `workbench leaderboard -f` writes)."""
        return render(self, fmt)

    def _repr_markdown_(self) -> str:  # a notebook shows the Markdown table and its legend
        return to_markdown(self)

    def best(self) -> dict[str, list[str]]:
        """Runs holding the best (highest) value per measure; ties all marked."""
        out = {}
        for m in self.measures:
            col = self.values[m].round(4)
            out[m] = list(col.index[col == col.max()]) if col.notna().any() else []
        return out

    def delta(self, run: str, measure: str, baseline: str) -> float:
        return float(self.values.at[run, measure] - self.values.at[baseline, measure])

    def marks(self, run: str, measure: str) -> list[int]:
        """Indices of the baselines this cell differs from significantly."""
        if self.significance is None:
            return []
        t = self.significance.table
        hit = t[(t["run"] == run) & (t["measure"] == measure) & t["significant"]]
        return sorted(self.baselines.index(b) for b in hit["baseline"] if b in self.baselines)

    def ci(self, run: str, measure: str) -> tuple[float, float] | None:
        if self.significance is None or not self.baselines:
            return None
        t = self.significance.table
        hit = t[(t["run"] == run) & (t["measure"] == measure) & (t["baseline"] == self.baselines[0])]
        if hit.empty:
            return None
        return float(hit["ci_low"].iloc[0]), float(hit["ci_high"].iloc[0])

    def legend(self) -> list[str]:
        """What the table shows, one sentence a line: provenance, marks, the test's settings, the CIs."""
        named = f", qrels {self.qrels}" if self.qrels else ""
        lines = [f"Collection {self.collection}{named} (qrels sha256 {self.qrels_hash[:12]}); "
                 f"semantics {self.semantics}."]
        lines.append("Best value per measure in bold.")
        if self.baselines:
            lines.append(f"Deltas against baseline {self.baselines[0]}.")
        s = self.significance
        if s is not None:
            lines += [f"{SYMBOLS[i]} significantly different from {b}." for i, b in enumerate(self.baselines)]
            lines.append(s.legend())
        if self.show_ci and s is not None:
            lines.append(self._ci_sentence())
        if self.bounds is not None:
            lines.append(BOUNDS_SENTENCE + f" (semantics {self.bounds_semantics}).")
        return lines

    def _ci_sentence(self) -> str:
        s = self.significance
        assert s is not None
        samples = f" ({s.n_resamples:,} bootstrap samples, seed {s.seed})" if s.n_resamples else ""
        return (f"CI: {s.confidence:.0%} percentile bootstrap confidence interval of the mean difference against "
                f"{self.baselines[0]}{samples}, not adjusted for multiple comparisons.")

    def to_dict(self) -> dict:
        """JSON: each row's cells keyed by the measure names asked for, each cell with `canonical`, ir-measures'
        spelling of its measure (as `evaluate --json` gives it beside every score)."""
        rows = []
        best = self.best()
        for run in self.runs:
            cells = {}
            for m in self.measures:
                v = self.values.at[run, m]
                cell: dict[str, Any]
                cell = {"canonical": self.canonical.get(m, m), "value": json_number(v),
                        "n_queries": int(self.n_queries.at[run, m]), "best": run in best[m]}
                if self.bounds is not None:
                    cell["unjudged_relevant"] = json_number(self.bounds.at[run, m])
                if self.baselines:
                    cell["delta"] = {b: json_number(self.delta(run, m, b)) for b in self.baselines}
                if self.significance is not None:
                    t = self.significance.table
                    sub = t[(t["run"] == run) & (t["measure"] == m)]
                    cell["tests"] = {
                        r.baseline: {"p_value": json_number(r.p_value), "p_adjusted": json_number(r.p_adjusted),
                                     "significant": bool(r.significant),
                                     "ci": [json_number(r.ci_low), json_number(r.ci_high)]}
                        for r in sub.itertuples()
                    }
                cells[m] = cell
            rows.append({"run": run, "measures": cells})
        sig = None
        if self.significance is not None:
            s = self.significance
            sig = {"test": s.test, "correction": s.correction, "alpha": s.alpha, "n_comparisons": s.n_comparisons,
                   "seed": s.seed, "n_resamples": s.n_resamples, "permutations": s.permutations,
                   "bootstrap_samples": s.n_resamples, "confidence": s.confidence,
                   "can_be_significant": s.can_be_significant, "legend": s.legend()}
        return {
            "collection": self.collection,
            **({"qrels": self.qrels} if self.qrels else {}),
            "qrels_hash": self.qrels_hash,
            "semantics": self.semantics,
            **({"bounds_semantics": self.bounds_semantics} if self.bounds is not None else {}),
            "measures": list(self.measures),
            "evaluators": self.evaluators,
            "versions": self.versions,
            "baselines": list(self.baselines),
            "significance": sig,
            "legend": self.legend(),
            "rows": rows,
        }


BOUNDS_LABEL = "if unjudged relevant"
BOUNDS_SENTENCE = (f"'{BOUNDS_LABEL}': the value with each run's unjudged documents within the measure's cutoff "
                   "(the whole ranking without one) judged relevant at the qrels' top grade; the value itself "
                   "counts them non-relevant, as trec_eval does. For precision, RR and other measures not "
                   "normalised by the relevant documents, any judgment of the holes gives a value between the two; "
                   "for AP, nDCG and recall it need not, and the second can be the lower one (the ideal ranking "
                   "gains documents too)")


def json_number(v) -> float | None:
    """A JSON number at full precision (None for missing/NaN): p-values of 1e-7 must not print as 0."""
    if v is None:
        return None
    v = float(v)
    return None if not math.isfinite(v) else v


def fixed4(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _signed(v: float) -> str:
    return f"{v:+.4f}"


def _cell_text(lb: Leaderboard, run: str, m: str, *, bold: tuple[str, str], symbols: tuple[str, ...],
               sup: tuple[str, str] = ("", "")) -> str:
    text = fixed4(lb.values.at[run, m])
    if run in lb.best()[m]:
        text = f"{bold[0]}{text}{bold[1]}"
    marks = "".join(symbols[i] for i in lb.marks(run, m))
    if marks:
        text += f"{sup[0]}{marks}{sup[1]}"
    if lb.baselines and run not in lb.baselines[:1]:
        text += f" ({_signed(lb.delta(run, m, lb.baselines[0]))})"
    return text


def _ci_text(lb: Leaderboard, run: str, m: str) -> str:
    ci = lb.ci(run, m)
    return "" if ci is None or run == lb.baselines[0] else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def _columns(lb: Leaderboard) -> list[tuple[str, str]]:
    cols = []
    for m in lb.measures:
        cols.append(("value", m))
        if lb.show_ci and lb.significance is not None:
            cols.append(("ci", m))
        if lb.bounds is not None:
            cols.append(("bounds", m))
    return cols


def _header(kind: str, m: str) -> str:
    return {"value": m, "ci": f"{m} CI", "bounds": f"{m} {BOUNDS_LABEL}"}[kind]


def _bounds_text(lb: Leaderboard, run: str, m: str) -> str:
    return "" if lb.bounds is None else fixed4(lb.bounds.at[run, m])


def to_markdown(lb: Leaderboard) -> str:
    cols = _columns(lb)
    header = ["run", *[_header(kind, m) for kind, m in cols]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
    for run in lb.runs:
        cells = [run.replace("|", "\\|")]
        for kind, m in cols:
            cells.append(_cell_text(lb, run, m, bold=("**", "**"), symbols=SYMBOLS) if kind == "value"
                         else _ci_text(lb, run, m) if kind == "ci" else _bounds_text(lb, run, m))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(lb.legend())
    return "\n".join(lines) + "\n"


def to_csv(lb: Leaderboard) -> str:
    """Machine-readable: plain numbers, one column per measure plus delta/p-value columns where they apply."""
    frame = pd.DataFrame(index=pd.Index(lb.runs, name="run"))
    for m in lb.measures:
        frame[m] = lb.values.loc[list(lb.runs), m].round(4)
        if lb.bounds is not None:
            frame[f"{m} {BOUNDS_LABEL}"] = lb.bounds.loc[list(lb.runs), m].round(4)
        for b in lb.baselines:
            frame[f"{m} delta vs {b}"] = [round(lb.delta(r, m, b), 4) for r in lb.runs]
            if lb.significance is not None:
                t = lb.significance.table
                sub = t[(t["baseline"] == b) & (t["measure"] == m)].set_index("run")
                frame[f"{m} p_adjusted vs {b}"] = [sub["p_adjusted"].get(r) for r in lb.runs]
                frame[f"{m} significant vs {b}"] = [bool(sub["significant"].get(r, False)) for r in lb.runs]
    buf = io.StringIO()
    frame.to_csv(buf, lineterminator="\n")
    return buf.getvalue()


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "[": "{[}", "]": "{]}",
                  "\n": " ", "\r": " ", "\t": " "}
_LATEX_RE = re.compile("|".join(map(re.escape, _LATEX_SPECIAL)))


def latex_escape(s: str) -> str:
    """User text as LaTeX prints it: one pass, so an escape's own braces are not escaped again; brackets are
    braced so that a cell opening with `[` is not read as the optional argument of the row's `\\`."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], s)


def _latex_label(lb: Leaderboard) -> str:
    """tab:leaderboard-<collection>, with only letters, digits and hyphens from the name (a label is no text)."""
    return "tab:leaderboard-" + (re.sub(r"[^A-Za-z0-9]+", "-", lb.collection).strip("-") or "collection")


def latex_number(text: str) -> str:
    """A typeset minus sign for negative numbers (a text hyphen is too short)."""
    return re.sub(r"(?<![\w.])-(?=\d)", "$-$", text)


def _latex_caption(lb: Leaderboard) -> str:
    """The legend in plain words; the provenance (qrels hash, semantics, versions) goes to comments."""
    n = sorted({int(v) for v in lb.n_queries.to_numpy().ravel() if v == v})
    over = f" over {n[0]:,} queries" if len(n) == 1 else ""
    parts = [f"Mean effectiveness of {len(lb.runs)} runs on {latex_escape(lb.collection)}{over}; the best value "
             "per measure is in bold."]
    if lb.baselines:
        parts.append(f"In parentheses: the difference from {latex_escape(lb.baselines[0])}.")
    s = lb.significance
    if s is not None:
        marks = [f"${LATEX_SYMBOLS[i]}$ from {latex_escape(b)}" for i, b in enumerate(lb.baselines)]
        parts.append("Significant differences: " + ", ".join(marks) + ".")
        parts.append(latex_escape(s.legend()).replace("alpha", r"$\alpha$"))
        if lb.show_ci:
            samples = f"{s.n_resamples:,} samples, " if s.n_resamples else ""
            parts.append(f"Below each value: the {s.confidence * 100:g}\\% bootstrap confidence interval of the "
                         f"difference from {latex_escape(lb.baselines[0])} ({samples}not adjusted for multiple "
                         "comparisons).")
    if lb.bounds is not None:
        parts.append(r"After $\to$: " + latex_escape(BOUNDS_SENTENCE) + ".")
    return " ".join(parts)


def to_latex(lb: Leaderboard) -> str:
    """A booktabs table float with a caption and a label, for \\input; a CI goes under its value (one column
    per measure, so --ci does not double the width)."""
    show_ci = lb.show_ci and lb.significance is not None and bool(lb.baselines)
    lines = [f"% Leaderboard of collection {latex_escape(lb.collection)} exported by the retrieval evaluation "
             "workbench; needs \\usepackage{booktabs}.",
             f"% qrels sha256 {lb.qrels_hash}; semantics {latex_escape(lb.semantics)}",
             "% versions: " + latex_escape(", ".join(f"{k} {v}" for k, v in sorted(lb.versions.items()))),
             r"\begin{table}[t]", r"\centering", r"\caption{" + _latex_caption(lb) + "}",
             r"\label{" + _latex_label(lb) + "}",
             r"\begin{tabular}{l" + "r" * len(lb.measures) + "}", r"\toprule"]
    lines.append(" & ".join(["Run", *[latex_escape(m) for m in lb.measures]]) + r" \\")
    lines.append(r"\midrule")
    for run in lb.runs:
        cells = [latex_escape(run)]
        for m in lb.measures:
            text = latex_number(_cell_text(lb, run, m, bold=(r"\textbf{", "}"), symbols=LATEX_SYMBOLS,
                                            sup=(r"$^{", "}$")))
            ci = _ci_text(lb, run, m) if show_ci else ""
            if ci:
                ci = latex_number(ci.replace("[", "{[}").replace("]", "{]}"))
            below = " ".join(p for p in (ci, _bounds_latex(lb, run, m)) if p)
            if below:
                text = r"\begin{tabular}[t]{@{}r@{}}" + text + r" \\ {\scriptsize " + below + r"}\end{tabular}"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _bounds_latex(lb: Leaderboard, run: str, m: str) -> str:
    text = _bounds_text(lb, run, m)
    return r"$\to$ " + latex_number(text) if text else ""


HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 2rem; color: #1b1b1b; }
table.leaderboard { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.leaderboard caption { text-align: left; font-weight: 600; padding-bottom: .5rem; }
.leaderboard th, .leaderboard td { padding: .3rem .7rem; border-bottom: 1px solid #ddd; white-space: nowrap;
                                   text-align: right; }
.leaderboard thead th { border-bottom: 2px solid #333; vertical-align: bottom; }
.leaderboard th:first-child, .leaderboard td:first-child { text-align: left; }
.leaderboard tbody th { font-weight: normal; }
.leaderboard tr.baseline { background: #f3f3f3; }
.leaderboard thead button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0;
                            padding: 0; cursor: pointer; }
.leaderboard th[aria-sort=ascending] button::after { content: " \\25B2"; }
.leaderboard th[aria-sort=descending] button::after { content: " \\25BC"; }
.leaderboard .delta, .leaderboard .ci, .leaderboard .bounds { color: #555; }
.legend { color: #444; font-size: .9rem; max-width: 60rem; margin: .3rem 0; }
"""

# Click a header to sort by it (numbers by their full value, highest first; names A-Z), again to reverse.
HTML_SCRIPT = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    th.querySelector("button").addEventListener("click", function () {
      var numeric = th.hasAttribute("data-numeric");
      var state = th.getAttribute("aria-sort");
      var descending = state ? state === "ascending" : numeric;
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[col];
        if (!numeric) return cell.textContent;
        var v = parseFloat(cell.getAttribute("data-sort"));
        return isNaN(v) ? null : v;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        var order = numeric ? (x < y ? -1 : 1) : x.localeCompare(y);
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _html_value(lb: Leaderboard, run: str, m: str) -> str:
    """A value cell's content: the value (bold if best), its marks, its delta; every piece escaped."""
    text = html.escape(fixed4(lb.values.at[run, m]))
    if run in lb.best()[m]:
        text = f"<strong>{text}</strong>"
    marks = "".join(SYMBOLS[i] for i in lb.marks(run, m))
    if marks:
        text += f"<sup>{marks}</sup>"
    if lb.baselines and run != lb.baselines[0]:
        text += f' <span class="delta">({_signed(lb.delta(run, m, lb.baselines[0]))})</span>'
    return text


def sort_key(v) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else repr(float(v))


def to_html(lb: Leaderboard) -> str:
    """A standalone UTF-8 page: inline style and a small inline script that sorts by a clicked column, no
    external assets; every run, measure and collection name is escaped."""
    e = html.escape
    cols = _columns(lb)
    head = ['<th scope="col"><button type="button">run</button></th>']
    head += [f'<th scope="col" data-numeric><button type="button">{e(_header(k, m))}</button></th>'
             for k, m in cols]
    body = []
    for run in lb.runs:
        cells = [f"<th scope=\"row\">{e(run)}</th>"]
        for kind, m in cols:
            if kind == "value":
                cells.append(f'<td data-sort="{sort_key(lb.values.at[run, m])}">{_html_value(lb, run, m)}</td>')
            elif kind == "bounds":
                high = lb.bounds.at[run, m] if lb.bounds is not None else None
                cells.append(f'<td class="bounds" data-sort="{sort_key(high)}">{e(_bounds_text(lb, run, m))}</td>')
            else:
                ci = lb.ci(run, m) if run != lb.baselines[0] else None
                cells.append(f'<td class="ci" data-sort="{sort_key(ci[0] if ci else None)}">'
                             f"{e(_ci_text(lb, run, m))}</td>")
        css = ' class="baseline"' if run in lb.baselines else ""
        body.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    title = f"Leaderboard: {lb.collection}"
    return html_page(title, f"{title} ({len(lb.runs)} runs, {len(lb.measures)} measures)", head, body, lb.legend())


def html_page(title: str, caption: str, head: list[str], body: list[str], legend: list[str], *,
              style: str = "") -> str:
    """A standalone page around a sortable leaderboard table: doctype, UTF-8, inline style and script, no external
    asset. `head` and `body` are the table's cells already escaped; the title, caption and legend are escaped here."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(title)}</title>",
           f"<style>{HTML_STYLE}{style}</style>", "</head>", "<body>", '<table class="leaderboard">',
           f"<caption>{e(caption)}</caption>",
           "<thead><tr>" + "".join(head) + "</tr></thead>", "<tbody>", *body, "</tbody>", "</table>"]
    out += [f'<p class="legend">{e(line)}</p>' for line in legend]
    out += [f"<script>{HTML_SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def to_json(lb: Leaderboard) -> str:
    return json_text(lb.to_dict())


def json_text(data: dict) -> str:
    """A board's JSON as every export writes it: indented, UTF-8 kept, one newline at the end."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html, "json": to_json}


def render(lb: Leaderboard, fmt: str) -> str:
    return render_as(RENDERERS, lb, fmt)


def render_as(renderers: Mapping[str, Callable[[Any], str]], board: Any, fmt: str) -> str:
    """`board` in `fmt` by its renderers (one per FORMATS entry); an unknown format is one line."""
    try:
        renderer = renderers[fmt]
    except KeyError:
        raise WorkbenchError(f"unknown leaderboard format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
    return renderer(board)
