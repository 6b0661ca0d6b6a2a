"""Build a leaderboard from stored scores: aggregates, deltas against baselines, significance marks."""

from __future__ import annotations

from collections.abc import Sequence

from workbench.analysis.stats import significance_table
from workbench.errors import WorkbenchError
from workbench.export.formats import CORRECTIONS, DEFAULT_PERMUTATIONS, TESTS
from workbench.export.leaderboard import Leaderboard, Significance
from workbench.services.evaluate import Evaluation
from workbench.versions import evaluator_versions


def build_leaderboard(
    evaluation: Evaluation,
    *,
    baselines: Sequence[str] = (),
    test: str = "t",
    correction: str = "holm",
    alpha: float = 0.05,
    show_ci: bool = False,
    seed: int = 0,
    n_resamples: int = DEFAULT_PERMUTATIONS,
    sort_by: str | None = None,
    unjudged_relevant: Evaluation | None = None,
) -> Leaderboard:
    """Runs as rows (sorted by the first measure unless `sort_by`), measures as columns.

    With baselines and a test other than "none", every (run, measure) is tested against every baseline on the
    queries both are judged on, and the p-values are corrected together across the whole table. `n_resamples`:
    the randomisation test's permutations and the bootstrap samples of the deltas' CIs. `unjudged_relevant`: the
    same runs and measures scored with unjudged documents relevant (evaluate_runs(unjudged="relevant")), shown
    beside each value as the other end of its bounds.
    """
    baselines = tuple(baselines)
    unknown = [b for b in baselines if b not in evaluation.runs]
    if unknown:
        raise WorkbenchError(f"baseline {', '.join(map(repr, unknown))} is not among the evaluated runs")
    agg = evaluation.aggregate()
    values = agg.pivot(index="run", columns="measure", values="value")
    counts = agg.pivot(index="run", columns="measure", values="n_queries")
    measures = list(evaluation.measures)
    key = sort_by or measures[0]
    if key not in measures:
        raise WorkbenchError(f"cannot sort by {key!r}: it is not one of the measures")
    order = values[key].sort_values(ascending=False, kind="stable").index.tolist()
    runs = [b for b in baselines] + [r for r in order if r not in baselines]
    significance = None
    if baselines and test != "none":
        significance = _significance(evaluation, baselines, runs, measures, test, correction, alpha, seed,
                                     n_resamples)
    return Leaderboard(
        collection=evaluation.collection,
        qrels_hash=evaluation.qrels_hash,
        semantics=evaluation.semantics,
        measures=tuple(measures),
        runs=tuple(runs),
        values=values.loc[runs, measures],
        n_queries=counts.loc[runs, measures],
        evaluators=evaluation.evaluators(),
        versions=evaluator_versions(),
        baselines=baselines,
        significance=significance,
        show_ci=show_ci,
        bounds=None if unjudged_relevant is None else _bounds(unjudged_relevant, runs, measures),
        bounds_semantics=None if unjudged_relevant is None else unjudged_relevant.semantics,
        qrels=evaluation.qrels,
        canonical=dict(evaluation.canonical),
    )


def _bounds(evaluation: Evaluation, runs: list[str], measures: list[str]):
    """The aggregates of the unjudged-as-relevant evaluation, shaped as the leaderboard's values."""
    agg = evaluation.aggregate()
    return agg.pivot(index="run", columns="measure", values="value").reindex(index=runs, columns=measures)


def _significance(evaluation, baselines, runs, measures, test, correction, alpha, seed, n_resamples):
    if test not in TESTS:
        raise WorkbenchError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    if correction not in CORRECTIONS:
        raise WorkbenchError(f"unknown correction {correction!r}; expected one of {', '.join(CORRECTIONS)}")
    result = significance_table(
        evaluation.per_query[["run", "query_id", "measure", "value"]],
        baselines=list(baselines),
        runs=[r for r in runs],
        measures=measures,
        test=test,
        correction=correction,
        alpha=alpha,
        seed=seed,
        n_resamples=n_resamples,
    )
    table = result.to_frame()
    return Significance(table=table, test=result.test, correction=result.correction, alpha=result.alpha,
                        n_comparisons=len(table), seed=seed, n_resamples=n_resamples,
                        confidence=result.confidence)
