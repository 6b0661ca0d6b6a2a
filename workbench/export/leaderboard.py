"""Leaderboards: one result object, rendered to Markdown, CSV, LaTeX (booktabs), HTML and JSON.

Runs are rows, measures are columns, the best value per column is marked, and with baselines each cell gains
its delta and significance marks (a symbol per baseline, explained in a legend that states test, correction
and alpha). Numbers are printed to 4 decimals, as trec_eval prints them.
"""

from __future__ import annotations

import html
import io
import json
import math
from dataclasses import dataclass, field

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.export.formats import FORMATS

SYMBOLS = ("†", "‡", "§", "¶", "♯", "♮")
TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test",
              "randomisation": "paired randomisation test"}
CORRECTION_NAMES = {"holm": "Holm correction", "bonferroni": "Bonferroni correction",
                    "bh": "Benjamini-Hochberg correction", "none": "no correction"}
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
    n_resamples: int | None = None


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
        lines = [f"Collection {self.collection} (qrels sha256 {self.qrels_hash[:12]}); semantics {self.semantics}."]
        lines.append("Best value per measure in bold.")
        if self.baselines:
            lines.append(f"Deltas against baseline {self.baselines[0]}.")
        if self.significance is not None:
            s = self.significance
            test = TEST_NAMES.get(s.test, s.test)
            if s.test.startswith("random") and s.n_resamples:
                test += f" ({s.n_resamples:,} permutations, seed {s.seed})"
            correction = CORRECTION_NAMES.get(s.correction, s.correction)
            for i, b in enumerate(self.baselines):
                lines.append(
                    f"{SYMBOLS[i]} significantly different from {b} ({test}, {correction} over "
                    f"{s.n_comparisons} comparisons, alpha={s.alpha:g})."
                )
        if self.show_ci and self.significance is not None:
            lines.append(f"CI: 95% bootstrap confidence interval of the mean difference against {self.baselines[0]}.")
        return lines

    def to_dict(self) -> dict:
        rows = []
        best = self.best()
        for run in self.runs:
            cells = {}
            for m in self.measures:
                v = self.values.at[run, m]
                cell = {"value": _num(v), "n_queries": int(self.n_queries.at[run, m]), "best": run in best[m]}
                if self.baselines:
                    cell["delta"] = {b: _num(self.delta(run, m, b)) for b in self.baselines}
                if self.significance is not None:
                    t = self.significance.table
                    sub = t[(t["run"] == run) & (t["measure"] == m)]
                    cell["tests"] = {
                        r.baseline: {"p_value": _num(r.p_value), "p_adjusted": _num(r.p_adjusted),
                                     "significant": bool(r.significant), "ci": [_num(r.ci_low), _num(r.ci_high)]}
                        for r in sub.itertuples()
                    }
                cells[m] = cell
            rows.append({"run": run, "measures": cells})
        sig = None
        if self.significance is not None:
            s = self.significance
            sig = {"test": s.test, "correction": s.correction, "alpha": s.alpha, "n_comparisons": s.n_comparisons,
                   "seed": s.seed, "n_resamples": s.n_resamples}
        return {
            "collection": self.collection,
            "qrels_hash": self.qrels_hash,
            "semantics": self.semantics,
            "measures": list(self.measures),
            "evaluators": self.evaluators,
            "versions": self.versions,
            "baselines": list(self.baselines),
            "significance": sig,
            "legend": self.legend(),
            "rows": rows,
        }


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)


def _fmt(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _signed(v: float) -> str:
    return f"{v:+.4f}"


def _cell_text(lb: Leaderboard, run: str, m: str, *, bold: tuple[str, str], symbols: tuple[str, ...],
               sup: tuple[str, str] = ("", "")) -> str:
    text = _fmt(lb.values.at[run, m])
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
    return cols


def to_markdown(lb: Leaderboard) -> str:
    cols = _columns(lb)
    header = ["run", *[m if kind == "value" else f"{m} CI" for kind, m in cols]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
    for run in lb.runs:
        cells = [run.replace("|", "\\|")]
        for kind, m in cols:
            cells.append(_cell_text(lb, run, m, bold=("**", "**"), symbols=SYMBOLS) if kind == "value"
                         else _ci_text(lb, run, m))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(lb.legend())
    return "\n".join(lines) + "\n"


def to_csv(lb: Leaderboard) -> str:
    """Machine-readable: plain numbers, one column per measure plus delta/p-value columns where they apply."""
    frame = pd.DataFrame(index=pd.Index(lb.runs, name="run"))
    for m in lb.measures:
        frame[m] = lb.values.loc[list(lb.runs), m].round(4)
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


def _latex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"),
                 ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        s = s.replace(a, b)
    return s


def to_latex(lb: Leaderboard) -> str:
    cols = _columns(lb)
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule"]
    lines.append(" & ".join(["Run", *[_latex_escape(m if k == "value" else f"{m} CI") for k, m in cols]]) + r" \\")
    lines.append(r"\midrule")
    for run in lb.runs:
        cells = [_latex_escape(run)]
        for kind, m in cols:
            if kind == "value":
                cells.append(_cell_text(lb, run, m, bold=(r"\textbf{", "}"), symbols=LATEX_SYMBOLS,
                                        sup=(r"$^{", "}$")))
            else:
                cells.append(_ci_text(lb, run, m))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    legend = _latex_escape(" ".join(lb.legend()))
    for sym, tex in zip(SYMBOLS, LATEX_SYMBOLS, strict=False):
        legend = legend.replace(sym, f"${tex}$")
    lines.append(r"\caption{" + legend + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(lb: Leaderboard) -> str:
    cols = _columns(lb)
    out = ["<table class=\"leaderboard\">", "<thead><tr><th>run</th>"]
    out += [f"<th>{html.escape(m if k == 'value' else f'{m} CI')}</th>" for k, m in cols]
    out.append("</tr></thead><tbody>")
    for run in lb.runs:
        out.append(f"<tr><td>{html.escape(run)}</td>")
        for kind, m in cols:
            text = (_cell_text(lb, run, m, bold=("<strong>", "</strong>"), symbols=SYMBOLS, sup=("<sup>", "</sup>"))
                    if kind == "value" else html.escape(_ci_text(lb, run, m)))
            out.append(f"<td style=\"text-align:right\">{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    out += [f"<p>{html.escape(line)}</p>" for line in lb.legend()]
    return "\n".join(out) + "\n"


def to_json(lb: Leaderboard) -> str:
    return json.dumps(lb.to_dict(), indent=2, ensure_ascii=False) + "\n"


RENDERERS = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html, "json": to_json}


def render(lb: Leaderboard, fmt: str) -> str:
    try:
        return RENDERERS[fmt](lb)
    except KeyError:
        raise WorkbenchError(f"unknown leaderboard format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
