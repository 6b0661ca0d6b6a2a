"""Names that both the CLI's parser (as choices) and the library use, kept free of heavy imports so that
`workbench --help` and argument parsing load neither pyarrow nor DuckDB (workbench.model re-exports RunKind,
workbench.io.topics the topic fields)."""

from __future__ import annotations

from enum import StrEnum


class RunKind(StrEnum):
    SPARSE = "sparse"
    DENSE = "dense"
    LEARNED_SPARSE = "learned-sparse"
    HYBRID = "hybrid"
    RERANK = "rerank"
    OTHER = "other"


RUN_KINDS = tuple(k.value for k in RunKind)

TOPIC_FIELDS = ("title", "description", "title+description")
"""What the query text of a topic with fields is made of (`--topic-field`)."""
DEFAULT_TOPIC_FIELD = "title"
