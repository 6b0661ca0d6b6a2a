"""Names of the export formats and of the tests a leaderboard can mark (no heavy imports: the CLI parser uses them)."""

FORMATS = ("markdown", "csv", "latex", "html", "json")
SCORE_FORMATS = ("csv", "jsonl", "parquet")
TESTS = ("t", "wilcoxon", "randomisation", "none")
CORRECTIONS = ("holm", "bonferroni", "bh", "none")
