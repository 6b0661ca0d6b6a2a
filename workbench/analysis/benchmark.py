"""Aggregating one measure over the collections of a benchmark: per-collection ranks, the mean, the mean rank, the
Borda count, each system's overall rank and a bootstrap interval of that rank.

Pure NumPy over (systems x collections) matrices in which NaN marks a system without a run in a collection. The
rules (docs/benchmarks.md):

- per collection, systems are ranked among the systems present there (1 = best, ties share the average rank);
- a system's mean and mean rank are over the collections it has; its Borda count sums, over those collections, one
  point per system present that it beats and half a point per tie (the present systems' n - rank, as MTEB counts);
- only systems present in every collection ("complete") get an overall rank: 1 + the number of complete systems
  strictly better by the chosen aggregate (competition ranking, ties share the best rank). An incomplete system
  keeps its aggregates, flagged, and no rank: its mean over fewer collections does not compare with the others'.
- the rank interval resamples queries with replacement within each collection (collection k of the benchmark with
  seed + k, `analysis.stats.bootstrap_means`), recomputes every per-collection mean, rank and aggregate, ranks the
  complete systems again and takes the empirical 2.5% and 97.5% quantiles of each system's ranks (inverted CDF:
  ranks stay whole numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.analysis.stats import bootstrap_means
from workbench.errors import AnalysisError
from workbench.export.formats import RANK_BY


def _tie_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, first, last): each column sorted from the highest value down (NaN last), and for every sorted place
    the first and last 0-based place of the group of equal values it belongs to (NaNs each a group of their own)."""
    key = -values
    order = np.argsort(key, axis=0, kind="stable")
    ordered = np.take_along_axis(key, order, axis=0)
    n = values.shape[0]
    place = np.broadcast_to(np.arange(n)[:, None], ordered.shape)
    starts = np.ones(ordered.shape, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    ends = np.ones(ordered.shape, dtype=bool)
    ends[:-1] = starts[1:]
    first = np.maximum.accumulate(np.where(starts, place, 0), axis=0)
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, place, n - 1), axis=0), axis=0), axis=0)
    return order, first, last


def _unsort(order: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    out = np.empty(sorted_values.shape)
    np.put_along_axis(out, order, sorted_values, axis=0)
    return out


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Rank of each row within each column (1 = highest, ties averaged, as scipy's rankdata "average"); NaN rows are
    absent from that column and get NaN. `values`: (systems, columns)."""
    values = np.asarray(values, dtype=np.float64)
    order, first, last = _tie_groups(values)
    return np.where(np.isnan(values), np.nan, _unsort(order, (first + last) / 2.0 + 1.0))


def competition_ranks(score: np.ndarray, eligible: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """1 + the number of eligible rows strictly better in each column (ties share the best rank, scipy's "min");
    NaN for rows not eligible. `score`: (systems, columns); `eligible`: (systems,) booleans."""
    score = np.asarray(score, dtype=np.float64)
    s = np.where(eligible[:, None], score if higher_is_better else -score, np.nan)
    order, first, _ = _tie_groups(s)
    return np.where(np.isnan(s), np.nan, _unsort(order, first + 1.0))


@dataclass(frozen=True)
class Aggregates:
    """Per-system aggregates of a (systems x collections) matrix of means (NaN: no run there)."""

    ranks: np.ndarray  # (systems, collections): rank among the systems present in each collection
    mean: np.ndarray  # over the collections the system has
    mean_rank: np.ndarray
    borda: np.ndarray
    n_collections: np.ndarray  # how many collections the system has

    @property
    def complete(self) -> np.ndarray:
        return self.n_collections == self.ranks.shape[1]

    def criterion(self, rank_by: str) -> tuple[np.ndarray, bool]:
        """(the aggregate that orders systems, whether higher is better)."""
        return {"mean": (self.mean, True), "borda": (self.borda, True), "mean-rank": (self.mean_rank, False)}[rank_by]


def aggregates(means: np.ndarray) -> Aggregates:
    """Ranks, mean, mean rank and Borda count of a (systems x collections) matrix (NaN: missing)."""
    means = np.asarray(means, dtype=np.float64)
    present = ~np.isnan(means)
    ranks = average_ranks(means)
    counts = present.sum(axis=1)
    n_present = present.sum(axis=0)  # systems per collection
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, np.nansum(means, axis=1) / counts, np.nan)
        mean_rank = np.where(counts > 0, np.nansum(ranks, axis=1) / counts, np.nan)
    borda = np.nansum(np.where(present, n_present[None, :] - ranks, np.nan), axis=1)
    return Aggregates(ranks, mean, mean_rank, borda, counts)


def overall_ranks(agg: Aggregates, rank_by: str) -> np.ndarray:
    """The complete systems' ranks by `rank_by` (NaN for the incomplete ones)."""
    if rank_by not in RANK_BY:
        raise AnalysisError(f"unknown ranking {rank_by!r}; expected one of {', '.join(RANK_BY)}")
    score, higher = agg.criterion(rank_by)
    return competition_ranks(score[:, None], agg.complete, higher_is_better=higher)[:, 0]


def bootstrap_collection_means(values: np.ndarray, mask: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(systems, n_resamples) means of each system over its queries of one collection, queries resampled with
    replacement (all systems share the resamples). `values`, `mask`: (systems, queries), mask true where the system
    has a value for the query (a resample that draws none of a system's queries gives NaN)."""
    mask = np.asarray(mask, dtype=bool)
    total = bootstrap_means(np.where(mask, values, 0.0), n_resamples, seed)
    if mask.all():
        return total
    count = bootstrap_means(mask.astype(np.float64), n_resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def rank_intervals(boot_means: list[np.ndarray], present: np.ndarray, rank_by: str,
                   confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of each system's overall rank over the bootstrap samples (NaN for incomplete systems).

    `boot_means`: per collection, (systems, n_resamples) resampled means; `present`: (systems, collections) which
    systems have a run in each collection (a resample that draws none of a present system's queries counts as its
    lowest value)."""
    if not boot_means:
        raise AnalysisError("a benchmark needs at least one collection")
    n_systems, n_resamples = boot_means[0].shape
    cube = np.stack(boot_means, axis=1)  # (systems, collections, resamples)
    cube = np.where(present[:, :, None], np.nan_to_num(cube, nan=-np.inf), np.nan)
    n_collections = cube.shape[1]
    flat = cube.transpose(0, 2, 1).reshape(n_systems, n_resamples * n_collections)  # column = (resample, coll.)
    ranks = average_ranks(flat).reshape(n_systems, n_resamples, n_collections)
    has = present[:, None, :]
    counts = present.sum(axis=1)[:, None]
    complete = np.asarray(present.all(axis=1), dtype=bool)
    if rank_by == "mean":
        score = np.where(complete[:, None], np.sum(np.where(has, cube.transpose(0, 2, 1), 0.0), axis=2) / counts,
                         np.nan)
        higher = True
    elif rank_by == "borda":
        n_present = present.sum(axis=0)[None, None, :]
        score, higher = np.sum(np.where(has, n_present - ranks, 0.0), axis=2), True
    else:
        score, higher = np.sum(np.where(has, ranks, 0.0), axis=2) / counts, False
    boot_ranks = competition_ranks(score, complete, higher_is_better=higher)
    tail = (1.0 - confidence) / 2.0
    low = np.full(n_systems, np.nan)
    high = np.full(n_systems, np.nan)
    if complete.any():
        low[complete] = np.quantile(boot_ranks[complete], tail, axis=1, method="inverted_cdf")
        high[complete] = np.quantile(boot_ranks[complete], 1.0 - tail, axis=1, method="inverted_cdf")
    return low, high
