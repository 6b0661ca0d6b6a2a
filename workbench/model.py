"""The record vocabulary shared by every layer: column names and Arrow schemas.

Names follow ir_measures/ir_datasets (query_id, doc_id, relevance, score) and are the same as the
DuckDB column names in the store, so tables move between layers without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from workbench.kinds import RunKind  # defined without pyarrow, for the CLI's parser

RUN_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("doc_id", pa.string()),
        ("score", pa.float64()),
        ("rank", pa.int64()),
    ]
)
"""A run's rows as read from a TREC file (rank is kept as written; scoring ignores it)."""

QRELS_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("doc_id", pa.string()),
        ("relevance", pa.int64()),
    ]
)
"""Relevance judgments; relevance is the integer grade as written (may be negative)."""

TOPICS_SCHEMA = pa.schema([("query_id", pa.string()), ("text", pa.string())])
"""A topic's id and its query text (what retrieval reads)."""

TOPIC_FIELDS_SCHEMA = pa.schema(
    [*TOPICS_SCHEMA, ("title", pa.string()), ("description", pa.string()), ("narrative", pa.string())]
)
"""Topics as read from a file: the query text plus the TREC fields it was made from (null where the format has
none, e.g. TSV), so the description and narrative are kept whichever field is the query."""

DOCS_SCHEMA = pa.schema([("doc_id", pa.string()), ("title", pa.string()), ("text", pa.string())])

SCORES_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("measure", pa.string()),
        ("value", pa.float64()),
    ]
)
"""Per-query values of one run; `measure` is spelled as ir-measures prints it (str(measure))."""


@dataclass(frozen=True)
class RunInfo:
    """What the store knows about one run (not its rows)."""

    collection: str
    name: str
    run_hash: str
    kind: str = RunKind.OTHER
    parent: str | None = None
    depth: int | None = None
    source_path: str | None = None
    run_tag: str | None = None
    n_queries: int = 0
    n_rows: int = 0
    metadata_header: str | None = None
    params: dict = field(default_factory=dict)
    software: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    ingested_at: str | None = None
