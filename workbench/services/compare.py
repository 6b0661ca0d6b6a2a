"""Comparing stored runs: per-query wins, ties and losses, a win matrix and paired tests, from the store.

The CLI (`workbench compare`), the dashboard and the notebook API call this, so all three answer alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from workbench.analysis import compare_pair, significance_table, win_matrix
from workbench.analysis.checks import check_alpha, check_count, check_distinct_runs, check_seed, check_tolerance
from workbench.analysis.stats import significance_legend
from workbench.errors import WorkbenchError
from workbench.export.formats import DEFAULT_PERMUTATIONS
from workbench.services.evaluate import evaluate_runs
from workbench.store import Store

if TYPE_CHECKING:
    from workbench.analysis.stats import SignificanceTable

_AT_DEPTH = re.compile(r"@\d+$")



@dataclass(frozen=True)
class Comparison:
    """Each other run against the baseline (the first run, A) on each measure, a win matrix when there are more
    than two runs, and tests."""

    runs: tuple[str, ...]
    measures: tuple[str, ...]
    pairs: tuple  # PairComparison per (other run, measure): run_a the run, run_b the baseline
    matrices: tuple  # WinMatrix per measure (N > 2 only)
    significance: SignificanceTable  # of each other run vs A, corrected across runs x measures
    qrels: str | None = None  # the named qrels set scored against (None: the collection's own)
    semantics: str | None = None  # set when it is not the default (judged-only scores)
    canonical: dict[str, str] = field(default_factory=dict)  # name shown -> ir-measures' (absent: the same)

    @property
    def baseline(self) -> str:
        return self.runs[0]

    def legend(self) -> str:
        """The tests' settings in one sentence (see analysis.stats.significance_legend)."""

        s = self.significance
        return significance_legend(s.test, s.n_resamples, s.correction, s.alpha, len(s.rows))

    def to_frame(self) -> pd.DataFrame:
        """One row per (run, measure): wins/ties/losses against the baseline beside its test (means, delta, CI,
        p-values, significant)."""
        counts = pd.DataFrame([{"run": p.run_a, "measure": p.measure, "wins": p.wins, "ties": p.ties,
                                "losses": p.losses} for p in self.pairs])
        tests = self.significance.to_frame()
        return tests.merge(counts, on=["run", "measure"], how="left")[
            ["baseline", "run", "measure", "n_queries", "mean_baseline", "mean_run", "mean_delta", "ci_low",
             "ci_high", "wins", "ties", "losses", "statistic", "p_value", "p_adjusted", "significant"]]

    def to_dict(self) -> dict:
        """JSON: every pair names its `baseline` and its `run` (wins are queries where the run beats the
        baseline; deltas are run - baseline). Measures are named as asked for, with `canonical` (ir-measures'
        spelling) beside each, as `evaluate --json` has them."""
        sig = self.significance.to_dict()
        sig["rows"] = [self._with_canonical(r) for r in sig["rows"]]
        return {
            "baseline": self.baseline, "runs": list(self.runs), "measures": list(self.measures),
            "pairs": [self._with_canonical(_pair_dict(p)) for p in self.pairs],
            "win_matrices": [self._with_canonical(m.to_dict()) for m in self.matrices],
            "significance": sig | {"legend": self.legend()},
            **({"qrels": self.qrels} if self.qrels else {}),
            **({"semantics": self.semantics} if self.semantics else {}),
        }

    def _with_canonical(self, record: dict) -> dict:
        """`record` with ir-measures' spelling of its `measure` right after it."""
        out = {}
        for key, value in record.items():
            out[key] = value
            if key == "measure":
                out["canonical"] = self.canonical.get(value, value)
        return out


def _pair_dict(pair) -> dict:
    """A PairComparison of a run (its A side) against the baseline (its B side), named as such."""
    def delta(q: dict) -> dict:
        return {"query_id": q["query_id"], "value_run": q["value_a"], "value_baseline": q["value_b"],
                "delta": q["delta"]}

    d = pair.to_dict()
    return {"baseline": d["run_b"], "run": d["run_a"], "measure": d["measure"], "n_queries": d["n_queries"],
            "tie_tolerance": d["tie_tolerance"], "wins": d["wins"], "ties": d["ties"], "losses": d["losses"],
            "mean_baseline": d["mean_b"], "mean_run": d["mean_a"], "mean_delta": d["mean_delta"],
            "top_gains": [delta(q) for q in d["top_gains"]], "top_losses": [delta(q) for q in d["top_losses"]],
            "deltas": [delta(q) for q in d["deltas"]]}


def compare_runs(store: Store, collection: str, runs: Sequence[str], measures: Sequence[str] | None = None, *,
                 tie_tolerance: float = 0.0, top_n: int = 5, test: str = "t", correction: str = "holm",
                 alpha: float = 0.05, seed: int = 0, n_resamples: int = DEFAULT_PERMUTATIONS,
                 qrels: str | None = None, judged_only: bool = False) -> Comparison:
    """`runs[0]` is the baseline; every later run is compared with it. `n_resamples`: the randomisation test's
    permutations and the bootstrap samples of the deltas' CIs. `qrels`: a named qrels set of the collection
    (default: its own); `judged_only`: scores as trec_eval -J."""

    if len(runs) < 2:
        raise WorkbenchError("compare needs at least two runs")
    check_distinct_runs(runs)
    check_tolerance(tie_tolerance)
    check_count("top_n", top_n, 0)
    check_count("n_resamples", n_resamples, 1)
    check_alpha(alpha)
    check_seed(seed)
    ev = evaluate_runs(store, collection, measures, list(runs), qrels=qrels,
                       unjudged="judged-only" if judged_only else "nonrelevant")
    scores = ev.per_query[["run", "query_id", "measure", "value"]]
    a, others = runs[0], list(runs[1:])
    pairs = tuple(compare_pair(scores, o, a, m, tie_tolerance=tie_tolerance, top_n=top_n)
                  for m in ev.measures for o in others)
    matrices = tuple(win_matrix(scores, list(runs), m, tie_tolerance) for m in ev.measures) if len(runs) > 2 else ()
    sig = significance_table(scores, [a], others, list(ev.measures), test=test, correction=correction,
                             alpha=alpha, seed=seed, n_resamples=n_resamples)
    return Comparison(tuple(runs), ev.measures, pairs, matrices, sig, ev.qrels,
                      ev.semantics if judged_only else None, dict(ev.canonical))
