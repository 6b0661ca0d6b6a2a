"""The environment variables the workbench reads, each parsed where it is used (never at import, where a bad value
would break every command), a bad value a WorkbenchError that names the variable.

    WORKBENCH_DB                  store file (default ./workbench.duckdb)            store/connection.py
    WORKBENCH_LOCK_TIMEOUT        seconds a command waits for a locked store (600)   store/connection.py
    WORKBENCH_APP_LOCK_TIMEOUT    seconds a dashboard page waits (30)                app/data.py
    WORKBENCH_APP_TEST_BUDGET     per-query values a leaderboard tests unasked       app/data.py
    WORKBENCH_MAX_UPLOAD_MB       the Runs page's upload limit (500)                 app/pages/runs.py
    WORKBENCH_RUNS_DIR            where produced runs are written                    produce.py, app/data.py
    WORKBENCH_CACHE               retrieval cache (~/.cache/workbench)               retrieval/cache.py
    WORKBENCH_MAX_DECOMPRESSED_MB most megabytes a gzip input may inflate to (8192)  io/_text.py
    WORKBENCH_MAX_COMPRESSION_RATIO  most inflated/compressed size past 16 MB (100)  io/_text.py
    WORKBENCH_CUSTOM_MEASURES     files of a user's runtime measures (os.pathsep)    scoring/registry.py

An empty value counts as unset, as for most Unix tools. Numbers use a strict decimal syntax: Python's
int()/float() would also take 'nan', 'inf', '1_000' and surrounding spaces.
"""

from __future__ import annotations

import math
import os
import re

from workbench.errors import WorkbenchError

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def _refuse(name: str, raw: str, expected: str) -> WorkbenchError:
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    return WorkbenchError(f"environment variable {name}={shown!r}: expected {expected}")


def env_seconds(name: str, default: float, *, maximum: float = 7 * 24 * 3600.0) -> float:
    """A waiting time in seconds: a finite number from 0 to `maximum` (a week), else `default` when unset."""
    raw = _raw(name)
    if raw is None:
        return default
    if not _FLOAT.fullmatch(raw) or not math.isfinite(float(raw)) or not 0 <= float(raw) <= maximum:
        raise _refuse(name, raw, f"a number of seconds from 0 to {maximum:g}")
    return float(raw)


def env_int(name: str, default: int, *, minimum: int = 1, maximum: int = 2**31 - 1) -> int:
    """A count from `minimum` to `maximum`, else `default` when unset."""
    raw = _raw(name)
    if raw is None:
        return default
    if not _INT.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise _refuse(name, raw, f"an integer from {minimum} to {maximum}")
    return int(raw)


def env_number(name: str, default: float, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    """A finite number from `minimum` to `maximum`, else `default` when unset."""
    raw = _raw(name)
    if raw is None:
        return default
    if not _FLOAT.fullmatch(raw) or not math.isfinite(float(raw)) or not minimum <= float(raw) <= maximum:
        span = f"of at least {minimum:g}" if maximum == math.inf else f"from {minimum:g} to {maximum:g}"
        raise _refuse(name, raw, f"a number {span}")
    return float(raw)


def env_text(name: str) -> str | None:
    """A path or name: None when unset or empty; refused when it holds a control character (a newline in a path
    is almost always a quoting mistake, and would make the file's name unprintable on one line)."""
    raw = _raw(name)
    if raw is not None and any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise _refuse(name, raw, "a path without control characters (newline, tab, ...)")
    return raw


def check_dashboard_env() -> None:
    """The variables the dashboard's pages read, checked by `serve` before it starts the server: a bad value is
    one line in the terminal instead of an error on every page."""
    env_seconds("WORKBENCH_APP_LOCK_TIMEOUT", 0.0)
    env_int("WORKBENCH_APP_TEST_BUDGET", 0, minimum=0)
    env_int("WORKBENCH_MAX_UPLOAD_MB", 1)
    env_text("WORKBENCH_RUNS_DIR")
    env_text("WORKBENCH_CUSTOM_MEASURES")
