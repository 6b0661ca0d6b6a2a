"""Leaderboards and score exports: renderers over result objects, no scoring of their own."""

from workbench.export.leaderboard import FORMATS, Leaderboard, Significance, render
from workbench.export.scores import SCORE_FORMATS, score_frame, write_scores

__all__ = ["FORMATS", "SCORE_FORMATS", "Leaderboard", "Significance", "render", "score_frame", "write_scores"]
