"""Per-query comparison of runs: wins/ties/losses, per-query deltas, biggest changes, N x N win matrices.

Inputs are long per-query score frames (`run, query_id, measure, value`, see docs/design.md). A pair is
compared over the queries *both* runs have a value for; with trec_eval -c scores (the evaluator's default)
that is every judged query. Outputs are frozen dataclasses with `to_dict()` for JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.checks import check_count, check_tolerance
from workbench.errors import AnalysisError

SCORE_COLUMNS = ("run", "query_id", "measure", "value")


def jsonable(obj: Any) -> Any:
    """Dataclasses/tuples/numpy scalars -> plain JSON values; NaN and inf become None (JSON has neither)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _check_scores(scores: pd.DataFrame) -> None:
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise AnalysisError(f"score frame lacks column(s) {missing}; expected {list(SCORE_COLUMNS)}")


def aligned_matrix(scores: pd.DataFrame, runs: Sequence[str], measure: str) -> tuple[list[str], np.ndarray]:
    """Query ids and a (queries x runs) float matrix of `measure`, NaN where a run has no value.

    Queries where no listed run has a value are dropped. Duplicate (run, query, measure) rows are an error,
    since silently averaging them would hide a broken evaluation.
    """
    _check_scores(scores)
    runs = list(runs)
    sel = scores.loc[(scores["measure"] == measure) & scores["run"].isin(runs), ["run", "query_id", "value"]]
    known = set(scores["run"].unique())
    absent = [r for r in runs if r not in known]
    if absent:
        raise AnalysisError(f"no scores for run(s) {absent}")
    if sel.empty:
        raise AnalysisError(f"no scores for measure {measure!r} (have {sorted(scores['measure'].unique())})")
    if sel.duplicated(["run", "query_id"]).any():
        dup = sel.loc[sel.duplicated(["run", "query_id"]), ["run", "query_id"]].iloc[0].tolist()
        raise AnalysisError(f"duplicate score rows for run/query {dup} and measure {measure!r}")
    wide = sel.pivot(index="query_id", columns="run", values="value").reindex(columns=runs)
    wide = wide.sort_index()
    return [str(q) for q in wide.index], wide.to_numpy(dtype=np.float64)


def paired_vectors(scores: pd.DataFrame, a: str, b: str, measure: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Query ids and the values of runs `a` and `b` over the queries both have (sorted by query id)."""
    qids, mat = aligned_matrix(scores, [a, b], measure)
    keep = ~np.isnan(mat).any(axis=1)
    if not keep.any():
        raise AnalysisError(f"runs {a!r} and {b!r} have no queries in common for {measure!r}")
    return [q for q, k in zip(qids, keep, strict=True) if k], mat[keep, 0], mat[keep, 1]


@dataclass(frozen=True)
class QueryDelta:
    query_id: str
    value_a: float
    value_b: float
    delta: float


@dataclass(frozen=True)
class PairComparison:
    """A over B on one measure: wins are queries where A - B > tie_tolerance."""

    run_a: str
    run_b: str
    measure: str
    tie_tolerance: float
    n_queries: int
    wins: int
    ties: int
    losses: int
    mean_a: float
    mean_b: float
    mean_delta: float
    deltas: tuple[QueryDelta, ...]
    """Every common query, sorted by delta descending (biggest gains first), ties by query id."""
    top_gains: tuple[QueryDelta, ...]
    top_losses: tuple[QueryDelta, ...]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def to_frame(self) -> pd.DataFrame:
        columns = ("query_id", "value_a", "value_b", "delta")
        return pd.DataFrame({c: [getattr(d, c) for d in self.deltas] for c in columns})


def compare_pair(
    scores: pd.DataFrame, a: str, b: str, measure: str, *, tie_tolerance: float = 0.0, top_n: int = 5
) -> PairComparison:
    """Wins/ties/losses of `a` over `b` and the per-query deltas (a - b), over their common queries.

    |delta| <= tie_tolerance counts as a tie, so near-equal float scores need not register as wins.
    """
    tie_tolerance = check_tolerance(tie_tolerance)
    top_n = check_count("top_n", top_n, 0)
    qids, va, vb = paired_vectors(scores, a, b, measure)
    d = va - vb
    order = np.lexsort((np.asarray(qids), -d))
    rows = tuple(QueryDelta(qids[i], float(va[i]), float(vb[i]), float(d[i])) for i in order)
    gains = tuple(r for r in rows if r.delta > tie_tolerance)[:top_n]
    losses = tuple(r for r in reversed(rows) if r.delta < -tie_tolerance)[:top_n]
    return PairComparison(
        run_a=a,
        run_b=b,
        measure=measure,
        tie_tolerance=float(tie_tolerance),
        n_queries=len(qids),
        wins=int((d > tie_tolerance).sum()),
        ties=int((np.abs(d) <= tie_tolerance).sum()),
        losses=int((d < -tie_tolerance).sum()),
        mean_a=float(va.mean()),
        mean_b=float(vb.mean()),
        mean_delta=float(d.mean()),
        deltas=rows,
        top_gains=gains,
        top_losses=losses,
    )


@dataclass(frozen=True)
class WinMatrix:
    """wins[i][j] = queries where runs[i] beats runs[j] by more than tie_tolerance (over common queries).

    losses is the transpose of wins; n_queries[i][j] the number of queries both runs have. The diagonal of
    wins/ties/losses is 0.
    """

    runs: tuple[str, ...]
    measure: str
    tie_tolerance: float
    wins: tuple[tuple[int, ...], ...]
    ties: tuple[tuple[int, ...], ...]
    losses: tuple[tuple[int, ...], ...]
    n_queries: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def to_frame(self, which: str = "wins") -> pd.DataFrame:
        """One of wins/ties/losses/n_queries as a runs x runs DataFrame."""
        return pd.DataFrame(getattr(self, which), index=list(self.runs), columns=list(self.runs))


def win_matrix(scores: pd.DataFrame, runs: Sequence[str], measure: str, tie_tolerance: float = 0.0) -> WinMatrix:
    """All pairwise wins/ties/losses at once (broadcast over a queries x runs x runs difference cube)."""
    tie_tolerance = check_tolerance(tie_tolerance)
    if len(set(runs)) != len(runs):
        raise AnalysisError(f"runs listed twice: {sorted({r for r in runs if list(runs).count(r) > 1})}")
    _, mat = aligned_matrix(scores, runs, measure)
    valid = ~np.isnan(mat)
    both = valid[:, :, None] & valid[:, None, :]
    with np.errstate(invalid="ignore"):
        diff = mat[:, :, None] - mat[:, None, :]
    wins = ((diff > tie_tolerance) & both).sum(axis=0)
    ties = ((np.abs(diff) <= tie_tolerance) & both).sum(axis=0)
    np.fill_diagonal(ties, 0)  # a run does not "tie" itself
    n = both.sum(axis=0)

    def tup(m: np.ndarray) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(int(x) for x in row) for row in m)

    return WinMatrix(
        runs=tuple(runs),
        measure=measure,
        tie_tolerance=float(tie_tolerance),
        wins=tup(wins),
        ties=tup(ties),
        losses=tup(wins.T),
        n_queries=tup(n),
    )
