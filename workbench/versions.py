"""Versions of the software that produced a number, recorded with leaderboards and runs."""

from __future__ import annotations

from functools import cache
from importlib import metadata

from workbench import __version__


@cache
def evaluator_versions() -> dict[str, str]:
    out = {"workbench": __version__}
    for dist in ("ir-measures", "pytrec-eval-terrier", "duckdb", "numpy", "scipy", "statsmodels"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out
