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
from workbench.scoring.measures import default_measures, is_summed, measure_name, parse_measure, parse_measures

__all__ = [
    "SEMANTICS",
    "RankedPlan",
    "aggregate",
    "default_measures",
    "evaluate",
    "evaluate_ranked",
    "evaluator_id",
    "is_summed",
    "measure_name",
    "parse_measure",
    "parse_measures",
    "ranked_plan",
]
