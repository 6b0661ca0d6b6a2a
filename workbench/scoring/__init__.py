"""Scoring: ir-measures measure objects and a registry of scorers (vectorised trec_eval-exact, trec_eval 10 IPrec,
a user's runtime measures, the ir-measures fallback, `workbench.scorers` plugins), see docs/scorers.md.

    from workbench.scoring import evaluate, parse_measures
    scores = evaluate(run_table, qrels_table, ["nDCG@10", "AP(rel=2)"])   # query_id, measure, value

No torch/pyserini/streamlit imports here, and no entry point is read: the CLI and dashboard import scoring on
start-up.
"""

from workbench.scoring.base import RankedScoring, Scorer, ScorerError
from workbench.scoring.evaluator import (
    SEMANTICS,
    RankedPlan,
    aggregate,
    evaluate,
    evaluate_ranked,
    evaluator_id,
    ranked_plan,
)
from workbench.scoring.measures import (
    NamedMeasure,
    default_measures,
    display_name,
    is_summed,
    measure_name,
    named_measures,
    parse_measure,
    parse_measures,
    parse_request,
)

__all__ = [
    "SEMANTICS",
    "NamedMeasure",
    "RankedPlan",
    "aggregate",
    "default_measures",
    "display_name",
    "evaluate",
    "evaluate_ranked",
    "evaluator_id",
    "is_summed",
    "measure_name",
    "named_measures",
    "parse_measure",
    "parse_measures",
    "parse_request",
    "ranked_plan",
]
__all__ += ["RankedScoring", "Scorer", "ScorerError"]  # the registry itself: workbench.scoring.registry
