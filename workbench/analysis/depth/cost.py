"""Cost-aware depth: the smallest rerank depth k that reaches a share of the largest gain over the first stage, and
what reranking k documents per query costs.

The gain of depth k is the derived curve's mean at k minus its mean at depth 0 (the first stage). The largest gain
is the largest over the grid's depths k > 0, significant or not (the study's "best k" is the significant one); the
depth chosen is the smallest k whose gain reaches `gain_share` of it (within floating-point rounding: ties go to
the smaller k). When no depth gains (largest gain <= 0) no k is chosen.
The rule is applied to every bootstrap resample of the curve (the same resamples as its CIs: same queries, samples
and seed), which gives the chosen k's percentile interval; a resample in which no depth gains counts as k = 0
(reranking nothing is the cheapest way to reach nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.analysis.compare import jsonable
from workbench.analysis.depth.results import DepthCurve
from workbench.analysis.stats import bootstrap_means
from workbench.errors import AnalysisError

DEFAULT_GAIN_SHARE = 0.9
"""The share of the largest gain the chosen depth must reach (issue 20: "default 90%")."""
DEFAULT_COST_UNIT = "s"
"""The unit of a cost per document when none is named: seconds of reranker time per document."""
_ROUNDING = 1e-9
"""A gain within this fraction of the largest gain below the target still reaches it: the same per-query values
summed in another order must not move the chosen k."""


def check_gain_share(share: float) -> float:
    """The share as a float, or an AnalysisError unless it is a finite number in (0, 1]."""
    if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share) \
            or not 0 < share <= 1:
        raise AnalysisError(f"the gain share must be a number in (0, 1] (0.9: 90% of the largest gain), got {share!r}")
    return float(share)


def check_cost(per_doc: float, where: str = "the cost per document") -> float:
    """The cost as a float, or an AnalysisError unless it is a finite number >= 0."""
    if isinstance(per_doc, bool) or not isinstance(per_doc, int | float) or not math.isfinite(per_doc) \
            or per_doc < 0:
        raise AnalysisError(f"{where} must be a finite number >= 0, got {per_doc!r}")
    return float(per_doc)


@dataclass(frozen=True)
class RerankCost:
    """What reranking one document costs, in `unit`, and where the number came from (an option or a run's
    ir_metadata header)."""

    per_doc: float
    unit: str = DEFAULT_COST_UNIT
    source: str = "--cost-per-doc"

    def __post_init__(self) -> None:
        check_cost(self.per_doc)

    def per_query(self, k: int) -> float:
        """k documents reranked for one query."""
        return k * self.per_doc


@dataclass(frozen=True)
class SmallestDepth:
    """The smallest depth reaching `gain_share` of the largest gain for one measure, its interval and its cost.

    `depth` is None when no depth of the grid gains over the first stage (`max_gain` <= 0); `max_gain_depth` is
    the smallest depth with the largest gain (None likewise), significant or not: `p_adjusted` and `significant`
    say whether the chosen depth's gain is (set by DepthStudy.smallest from the study's tests). `gain_ci_*`: the
    curve's CI of the difference from depth 0 at `depth`; `depth_ci_*`: the percentile interval of the rule's k
    over the bootstrap resamples (grid depths: the lower end rounded down, the upper up); `no_gain_resamples`: the
    share of resamples in which no depth gains. The cost of k is k x cost per document per query, times the
    study's queries in all (a query whose first stage ranks fewer than k documents costs less: it is the budget).
    """

    measure: str
    gain_share: float
    depth: int | None
    max_gain_depth: int | None
    max_gain: float
    target: float
    mean: float
    first_stage_mean: float
    gain: float
    gain_ci_low: float
    gain_ci_high: float
    depth_ci_low: int
    depth_ci_high: int
    no_gain_resamples: float
    confidence: float
    n_boot: int
    seed: int
    n_queries: int
    cost: RerankCost | None = None
    p_adjusted: float | None = None  # the chosen depth's adjusted p against the first stage (DepthStudy.smallest)
    significant: bool | None = None

    def _significance(self) -> str:
        if self.significant is None:
            return ""
        p = "" if self.p_adjusted is None else f", adjusted p {self.p_adjusted:.3g}"
        return f" ({'' if self.significant else 'not '}significant{p})"

    @property
    def cost_per_query(self) -> float | None:
        return None if self.cost is None or self.depth is None else self.cost.per_query(self.depth)

    @property
    def cost_total(self) -> float | None:
        per_query = self.cost_per_query
        return None if per_query is None else per_query * self.n_queries

    @property
    def max_gain_cost_per_query(self) -> float | None:
        return None if self.cost is None or self.max_gain_depth is None else self.cost.per_query(self.max_gain_depth)

    def to_dict(self) -> dict[str, Any]:
        """JSON: the fields and the costs (a cost beyond a float's range is null, as every non-finite number)."""
        return jsonable({**vars(self), "cost": None if self.cost is None else vars(self.cost),
                         "cost_per_query": self.cost_per_query, "cost_total": self.cost_total,
                         "max_gain_cost_per_query": self.max_gain_cost_per_query})

    def sentence(self, first_stage: str) -> str:
        """One line: the chosen k, its interval, its gain and CI, and its cost (or why there is no k)."""
        share = f"{self.gain_share:.0%}"
        if self.depth is None and math.isnan(self.max_gain):
            return f"no depth above 0 in the grid for {self.measure}: no k to choose"
        if self.depth is None or self.max_gain_depth is None:
            return (f"no depth gains over {first_stage} (k = 0) on {self.measure} (largest difference "
                    f"{self.max_gain:+.4f}): no k reaches {share} of a gain")
        interval = f"{self.confidence:.0%} bootstrap interval of k [{self.depth_ci_low}, {self.depth_ci_high}]"
        if self.no_gain_resamples > 0:
            interval += f", no depth gains in {self.no_gain_resamples:.1%} of the resamples"
        line = (f"smallest k reaching {share} of the largest gain on {self.measure}: k = {self.depth} ({interval}); "
                f"gain {self.gain:+.4f} [{self.gain_ci_low:+.4f}, {self.gain_ci_high:+.4f}] over {first_stage}"
                f"{self._significance()}; largest {self.max_gain:+.4f} at k = {self.max_gain_depth}")
        if self.cost is None:
            return line + "; no cost per document given (--cost-per-doc, or cost_per_doc in the run's ir_metadata)"
        unit = self.cost.unit
        best = ("" if self.max_gain_depth == self.depth
                else f" (k = {self.max_gain_depth}: {self.max_gain_cost_per_query:g} {unit} per query)")
        return (line + f"; cost {self.depth} x {self.cost.per_doc:g} {unit} = {self.cost_per_query:g} {unit} per "
                f"query, {self.cost_total:g} {unit} for {self.n_queries:,} queries{best}")


def smallest_depths(means: np.ndarray, depths: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """The rule on each column of `means` (depths x columns, row 0 the first stage): (chosen depth, -1 where no
    depth gains; largest gain). `depths` ascending, depths[0] == 0."""
    gains = means[1:] - means[:1]
    best = gains.max(axis=0)
    reach = gains >= (share * best - _ROUNDING * np.abs(best))[None, :]
    chosen = depths[1:][reach.argmax(axis=0)]
    return np.where(best > 0, chosen, -1), best


def smallest_depth(curve: DepthCurve, measure: str, gain_share: float = DEFAULT_GAIN_SHARE,
                   cost: RerankCost | None = None) -> SmallestDepth:
    """The smallest derived depth of `curve` reaching `gain_share` of the largest gain on `measure` (see the module),
    with the bootstrap interval of that k over the curve's resamples and the cost of reranking it."""
    share = check_gain_share(gain_share)
    points = sorted((p for p in curve.points if p.measure == measure), key=lambda p: p.depth)
    if not points or points[0].depth != 0:
        raise AnalysisError(f"the curve has no derived points for {measure!r} from depth 0")
    depths = np.array([p.depth for p in points], dtype=np.int64)
    first = points[0].mean
    if len(points) == 1:  # no depth above 0 in the grid
        return SmallestDepth(measure, share, None, None, float("nan"), float("nan"), float("nan"), first,
                             float("nan"), float("nan"), float("nan"), 0, 0, 1.0, curve.confidence, curve.n_boot,
                             curve.seed, len(curve.query_ids), cost)
    chosen, best = smallest_depths(np.array([[p.mean] for p in points]), depths, share)
    boot = bootstrap_means(np.array([p.values for p in points]), curve.n_boot, curve.seed)
    resampled, _ = smallest_depths(boot, depths, share)
    no_gain = resampled < 0
    resampled = np.where(no_gain, 0, resampled)
    tail = (1.0 - curve.confidence) / 2.0
    k_low = int(np.quantile(resampled, tail, method="lower"))
    k_high = int(np.quantile(resampled, 1.0 - tail, method="higher"))
    k = int(chosen[0]) if chosen[0] >= 0 else None
    max_gain = float(best[0])
    best_k = int(depths[1:][np.argmax(np.array([p.mean for p in points[1:]]))]) if max_gain > 0 else None
    p = next((q for q in points if q.depth == k), None)
    return SmallestDepth(
        measure, share, k, best_k, max_gain, share * max_gain if max_gain > 0 else float("nan"),
        p.mean if p else float("nan"), first, p.mean - first if p else float("nan"),
        p.delta_ci_low if p else float("nan"), p.delta_ci_high if p else float("nan"), k_low, k_high,
        float(no_gain.mean()), curve.confidence, curve.n_boot, curve.seed, len(curve.query_ids), cost)
