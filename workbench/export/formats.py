"""Names of the export formats and of the tests a leaderboard can mark (no heavy imports: the CLI parser uses them)."""

FORMATS = ("markdown", "csv", "latex", "html", "json")
SCORE_FORMATS = ("csv", "jsonl", "parquet")
TESTS = ("t", "wilcoxon", "randomisation", "none")
CORRECTIONS = ("holm", "bonferroni", "bh", "none")

# The statistics' defaults, one definition for the CLI, the dashboard and the exports (re-exported by
# workbench.analysis.stats, their home; here so that the CLI's parser can show them without importing numpy).
DEFAULT_PERMUTATIONS = 10_000
"""Permutations of the randomisation test. Its smallest p is 1/(n+1): with 1,000, Holm over a leaderboard's 138
comparisons could never reject (138/1,001 > 0.05)."""
DEFAULT_BOOTSTRAP = 10_000
"""Bootstrap samples of every percentile CI (deltas, run means, the depth curve)."""

RANK_BY = ("mean", "borda", "mean-rank")
"""What orders a benchmark's leaderboard (workbench.analysis.benchmark): the mean over collections (BEIR's habit),
the Borda count (MTEB's) or the mean per-collection rank."""
