"""Leaderboards and score exports: renderers over result objects, no scoring of their own.

The renderers load lazily (PEP 562): importing the format names must not cost the CLI pandas' import time.
"""

from importlib import import_module

from workbench.export.formats import FORMATS, SCORE_FORMATS

_LAZY = {
    "Leaderboard": "workbench.export.leaderboard",
    "Significance": "workbench.export.leaderboard",
    "render": "workbench.export.leaderboard",
    "score_frame": "workbench.export.scores",
    "write_scores": "workbench.export.scores",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FORMATS", "SCORE_FORMATS", "Leaderboard", "Significance", "render", "score_frame", "write_scores"]
