"""Scoring: ir-measures measure objects, a vectorised trec_eval-exact evaluator and the ir-measures fallback.

    from workbench.scoring import evaluate, parse_measures
    scores = evaluate(run_table, qrels_table, ["nDCG@10", "AP(rel=2)"])   # query_id, measure, value

No torch/pyserini/streamlit imports here: the CLI and dashboard import scoring on start-up.
"""

from workbench.scoring.evaluator import SEMANTICS, aggregate, evaluate, evaluator_id
from workbench.scoring.measures import default_measures, is_summed, measure_name, parse_measure, parse_measures

__all__ = [
    "SEMANTICS",
    "aggregate",
    "default_measures",
    "evaluate",
    "evaluator_id",
    "is_summed",
    "measure_name",
    "parse_measure",
    "parse_measures",
]
