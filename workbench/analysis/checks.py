"""Checks of an analysis's options at its entry, so a bad value is one AnalysisError, never a numpy traceback or a
silently wrong table (a NaN tie tolerance counts no query as a win, tie or loss; a negative seed fails deep in
numpy). The CLI refuses the same values when it parses them; the dashboard and the Python API call these
functions directly."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

from workbench.errors import AnalysisError

MAX_SEED = 2**63 - 1


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_count(name: str, value: object, minimum: int) -> int:
    """An integer option (resamples, k, top n) of at least `minimum`."""
    if not _is_int(value) or value < minimum:  # type: ignore[operator]
        raise AnalysisError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def check_seed(seed: object) -> int:
    """A seed numpy's Generator takes: an integer from 0 to 2**63-1."""
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:  # type: ignore[operator]
        raise AnalysisError(f"seed must be an integer from 0 to 2**63-1, got {seed!r}")
    return int(seed)  # type: ignore[call-overload]


def check_tolerance(tie_tolerance: object) -> float:
    """A tie tolerance: a finite number >= 0 (NaN would make every comparison false: no wins, ties or losses)."""
    if not isinstance(tie_tolerance, Real) or not math.isfinite(tie_tolerance) or tie_tolerance < 0:
        raise AnalysisError(f"tie_tolerance must be a finite number >= 0, got {tie_tolerance!r}")
    return float(tie_tolerance)


def check_alpha(alpha: object) -> float:
    """A significance level strictly between 0 and 1."""
    if not isinstance(alpha, Real) or not 0 < float(alpha) < 1:  # NaN fails the comparison too
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def check_distinct_runs(runs: Sequence[str]) -> None:
    """A comparison of a run with itself is no comparison: refuse a run listed twice, naming it."""
    seen: set[str] = set()
    for run in runs:
        if run in seen:
            raise AnalysisError(f"run {run!r} is listed twice; compare runs that differ")
        seen.add(run)
