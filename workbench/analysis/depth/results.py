"""What a depth analysis returns: the curve's points, the curve, and a run given by its judged ranks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.analysis.compare import jsonable
from workbench.errors import AnalysisError


@dataclass(frozen=True)
class CurvePoint:
    """One measure at one depth: mean over queries, bootstrap CI, per-query values aligned to query_ids."""

    measure: str
    depth: int
    source: str  # "derived" or "observed"
    mean: float
    ci_low: float
    ci_high: float
    values: tuple[float, ...]
    delta_ci_low: float = float("nan")
    """Percentile bootstrap CI of the mean difference from the first stage (derived depth 0), from the same
    resamples as the points' CIs (paired); NaN when the grid lacks depth 0."""
    delta_ci_high: float = float("nan")


@dataclass(frozen=True)
class DepthCurve:
    """Derived points for every (measure, depth), observed points for the real runs, best depth per measure.

    `judged_measure` (Judged@10 by default) is always among the measures: a depth whose gain rests on
    unjudged documents shows as a drop in it (the "holes" problem, Sakai & Kando 2008).
    """

    measures: tuple[str, ...]
    judged_measure: str
    depths: tuple[int, ...]
    k_max: int
    query_ids: tuple[str, ...]
    points: tuple[CurvePoint, ...]
    observed: tuple[CurvePoint, ...]
    best_depth: tuple[tuple[str, int], ...]
    """(measure, depth with the highest mean; smallest such depth on ties) for each measure."""
    n_boot: int
    seed: int
    confidence: float

    def to_dict(self, *, per_query: bool = True) -> dict[str, Any]:
        d = jsonable(self)
        if not per_query:
            for p in (*d["points"], *d["observed"]):
                p.pop("values")
        return d

    def point(self, measure: str, depth: int, *, observed: bool = False) -> CurvePoint:
        for p in self.observed if observed else self.points:
            if p.measure == measure and p.depth == depth:
                return p
        raise AnalysisError(f"no {'observed' if observed else 'derived'} point for {measure!r} at depth {depth}")

    def curve(self, measure: str) -> dict[int, float]:
        """depth -> mean of the derived curve."""
        return {p.depth: p.mean for p in self.points if p.measure == measure}

    def to_frame(self) -> pd.DataFrame:
        """Long form: measure, depth, source, mean, ci_low, ci_high, delta_ci_low, delta_ci_high (one row per
        point)."""
        cols = ["measure", "depth", "source", "mean", "ci_low", "ci_high", "delta_ci_low", "delta_ci_high"]
        return pd.DataFrame([[getattr(p, c) for c in cols] for p in (*self.points, *self.observed)], columns=cols)

    def matrix(self, measure: str, runs: Sequence[str]) -> np.ndarray:
        """query_ids x `runs` values of `measure`, runs named as in scores_frame (derived@k, observed@k)."""
        values = {f"{p.source}@{p.depth}": p.values for p in (*self.points, *self.observed) if p.measure == measure}
        return np.array([values[r] for r in runs], dtype=np.float64).T.reshape(len(self.query_ids), len(runs))

    def scores_frame(self, prefix: str = "") -> pd.DataFrame:
        """Per-query scores as a `run, query_id, measure, value` frame for compare/stats.

        Runs are named f"{prefix}derived@{k}" and f"{prefix}observed@{k}"; derived@0 is the first stage.
        """
        parts = [
            pd.DataFrame(
                {
                    "run": f"{prefix}{p.source}@{p.depth}",
                    "query_id": list(self.query_ids),
                    "measure": p.measure,
                    "value": np.asarray(p.values, dtype=np.float64),
                }
            )
            for p in (*self.points, *self.observed)
        ]
        return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class RankedRows:
    """A run given by what `evaluate_ranked` scores: its judged rows' trec_eval ranks (query_id, rank, relevance)
    and its rows per query (query_id, n). A stored run's come from the store without reading its other rows;
    depth_curve takes them for observed runs."""

    judged: pa.Table
    n_ret: pa.Table
