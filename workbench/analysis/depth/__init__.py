"""Rerank-depth scaling: how a measure changes as a reranker is applied to the first stage's top-k, k = 0..K.

One module per concern: `join` (F joined to R and the depth variants, SQL over Arrow in a private connection),
`ranks` (each document's rank in the variant at depth k, numpy), `pair` (RerankPair: one join shared by the
analyses, with what it keeps between them), `results` (the result types), `curve` (depth_curve), `cost` (the
smallest depth reaching a share of the best gain, and its cost), `bounds` (the curve with unjudged documents
relevant).
"""

from workbench.analysis.depth.bounds import unjudged_relevant_curve
from workbench.analysis.depth.cost import (
    DEFAULT_COST_UNIT,
    DEFAULT_GAIN_SHARE,
    RerankCost,
    SmallestDepth,
    check_cost,
    check_gain_share,
    smallest_depth,
)
from workbench.analysis.depth.curve import (
    DEFAULT_GRID,
    depth_curve,
    depth_grid,
    derive_depth_run,
    max_cutoff,
    rerank_depth,
)
from workbench.analysis.depth.pair import RerankPair, rerank_pair
from workbench.analysis.depth.results import CurvePoint, DepthCurve, RankedRows

__all__ = [
    "DEFAULT_COST_UNIT",
    "DEFAULT_GAIN_SHARE",
    "DEFAULT_GRID",
    "CurvePoint",
    "DepthCurve",
    "RankedRows",
    "RerankCost",
    "RerankPair",
    "SmallestDepth",
    "check_cost",
    "check_gain_share",
    "depth_curve",
    "depth_grid",
    "derive_depth_run",
    "max_cutoff",
    "rerank_depth",
    "rerank_pair",
    "smallest_depth",
    "unjudged_relevant_curve",
]
