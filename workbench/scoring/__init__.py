"""Scoring: ir-measures measure objects, a vectorised trec_eval-exact evaluator and the ir-measures fallback.

    from workbench.scoring import evaluate, parse_measures
    scores = evaluate(run_table, qrels_table, ["nDCG@10", "AP(rel=2)"])   # query_id, measure, value

No torch/pyserini/streamlit imports here: the CLI and dashboard import scoring on start-up.
"""

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
