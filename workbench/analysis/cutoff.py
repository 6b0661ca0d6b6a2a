"""Measure-at-cutoff curves (nDCG@k, R@k, P@k for k = 1, 5, 10, ...): where in the ranking a run gains.

One evaluate call scores every cutoff at once; the curve stops at the deepest ranking the run has (deeper
cutoffs would only repeat, or for P@k dilute, the last value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.compare import jsonable
from workbench.errors import AnalysisError
from workbench.scoring import evaluate, measure_name, parse_measure

DEFAULT_CUTOFFS = (1, 5, 10, 20, 50, 100, 200, 500, 1000)
Family = Literal["nDCG", "R", "P"]


@dataclass(frozen=True)
class CutoffCurve:
    """Mean (over judged queries, trec_eval -c) of `family`@k for each cutoff k."""

    family: str
    rel: int | None
    cutoffs: tuple[int, ...]
    measures: tuple[str, ...]
    mean: tuple[float, ...]
    n_queries: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"cutoff": self.cutoffs, "measure": self.measures, "mean": self.mean})


def cutoff_curve(
    run: pa.Table,
    qrels: pa.Table,
    family: Family = "nDCG",
    cutoffs: Sequence[int] | None = None,
    *,
    rel: int | None = None,
) -> CutoffCurve:
    """`family`@k of `run` for each k; default cutoffs 1, 5, 10, 20, 50, 100, 200, 500, 1000 up to run depth.

    `rel` sets the binary relevance threshold for R and P (e.g. rel=2 for TREC DL passage); nDCG uses grades.
    """
    _check_family(family, rel)
    if run.num_rows == 0:
        raise AnalysisError("the run is empty")
    if cutoffs is None:
        depth = int(pc.max(run.group_by("query_id").aggregate([("doc_id", "count")])["doc_id_count"]).as_py())
        cutoffs = [c for c in DEFAULT_CUTOFFS if c <= depth] or [DEFAULT_CUTOFFS[0]]
    measures = cutoff_measures(family, cutoffs, rel)
    return curve_from_scores(family, rel, measures, evaluate(run.select(["query_id", "doc_id", "score"]), qrels,
                                                            measures))


def _check_family(family: str, rel: int | None) -> None:
    if family not in ("nDCG", "R", "P"):
        raise AnalysisError(f"unknown family {family!r}; choose nDCG, R or P")
    if rel is not None and family == "nDCG":
        raise AnalysisError("rel applies to R and P only; nDCG uses the graded judgments")


def cutoff_measures(family: Family, cutoffs: Sequence[int], rel: int | None = None) -> list[str]:
    """The measures of a curve, one per cutoff in increasing order (e.g. R(rel=2)@10), as ir-measures spells them."""
    _check_family(family, rel)
    cuts = sorted(set(map(int, cutoffs)))
    if not cuts or cuts[0] < 1:
        raise AnalysisError(f"cutoffs must be >= 1, got {cuts}")
    spell = f"{family}(rel={rel})" if rel is not None else family
    return list(dict.fromkeys(measure_name(f"{spell}@{k}") for k in cuts))


def curve_from_scores(family: Family, rel: int | None, measures: Sequence[str], scores: pa.Table) -> CutoffCurve:
    """The curve from per-query values (query_id, measure, value) of `cutoff_measures(...)`, however scored
    (a stored run's can come from its stored ranks: workbench.services.depth.stored_cutoff_curves)."""
    frame = scores.to_pandas()
    means = frame.groupby("measure")["value"].mean()

    cuts = [int(parse_measure(m)["cutoff"]) for m in measures]
    return CutoffCurve(
        family=family,
        rel=rel,
        cutoffs=tuple(cuts),
        measures=tuple(measures),
        mean=tuple(float(means.get(m, np.nan)) for m in measures),
        n_queries=int(frame["query_id"].nunique()),
    )
