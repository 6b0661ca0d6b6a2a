"""Analysis of per-query scores: comparisons, paired significance, rerank-depth curves, cutoff curves, holes.

Pure functions over per-query score frames (`run, query_id, measure, value`) or Arrow run/qrels tables; each
returns one frozen result type with `to_dict()` for JSON. See docs/design.md for the vocabulary.
"""

from workbench.analysis.compare import PairComparison, QueryDelta, WinMatrix, compare_pair, win_matrix
from workbench.analysis.cutoff import CutoffCurve, cutoff_curve
from workbench.analysis.depth import (
    CurvePoint,
    DepthCurve,
    RankedRows,
    RerankPair,
    depth_curve,
    derive_depth_run,
    rerank_depth,
)
from workbench.analysis.holes import JudgedPoint, JudgedSummary, judged_summary, phantom_hits
from workbench.analysis.stats import (
    Adjustment,
    ConfidenceInterval,
    EffectSize,
    SignificanceRow,
    SignificanceTable,
    TestResult,
    adjust_pvalues,
    bootstrap_ci,
    effect_size,
    paired_test,
    randomisation_test,
    significance_table,
    t_test,
    wilcoxon_test,
)

__all__ = [
    "Adjustment",
    "ConfidenceInterval",
    "CurvePoint",
    "CutoffCurve",
    "DepthCurve",
    "EffectSize",
    "JudgedPoint",
    "JudgedSummary",
    "PairComparison",
    "QueryDelta",
    "RankedRows",
    "RerankPair",
    "SignificanceRow",
    "SignificanceTable",
    "TestResult",
    "WinMatrix",
    "adjust_pvalues",
    "bootstrap_ci",
    "compare_pair",
    "cutoff_curve",
    "depth_curve",
    "derive_depth_run",
    "effect_size",
    "judged_summary",
    "paired_test",
    "phantom_hits",
    "randomisation_test",
    "rerank_depth",
    "significance_table",
    "t_test",
    "wilcoxon_test",
    "win_matrix",
]
