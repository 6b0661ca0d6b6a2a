"""What every producer shares: the `RetrievalResult` it returns, trec_eval ordering (`order_run`, `trec_ranks`),
BEIR's flat document text and input checks. Imported by the producers, not by the package, so that the step
schemas beside it (`workbench.retrieval.steps`, read by the CLI's parser) load neither pyarrow nor numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import WorkbenchError
from workbench.model import RUN_SCHEMA


@dataclass(frozen=True)
class RetrievalResult:
    """A produced run and how it was made.

    `params` holds every setting that changes the rows (and the cache keys used); `software` the versions of the
    libraries involved; `timings` wall seconds per phase (informative only, never part of a key).
    """

    run: pa.Table
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    parent: str | None = None
    depth: int | None = None


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of `packages` (absent ones are left out), plus the workbench's own."""
    out: dict[str, str] = {}
    for name in ("workbench", *packages):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def group_starts(query_id: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """For a column sorted by query: (group index of each row, first row of each group)."""
    n = len(query_id)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    change = np.ones(n, dtype=bool)
    if n > 1:
        q = query_id.combine_chunks() if isinstance(query_id, pa.ChunkedArray) else query_id
        change[1:] = pc.not_equal(q.slice(1), q.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(change)
    return np.cumsum(change) - 1, starts


def trec_ranks(table: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """Sort `table` into trec_eval order (query_id, score desc, doc_id desc) and return it with 1-based ranks."""
    ordered = table.sort_by([("query_id", "ascending"), ("score", "descending"), ("doc_id", "descending")])
    group, starts = group_starts(ordered.column("query_id"))
    ranks = np.arange(len(ordered), dtype=np.int64) - starts[group] + 1 if len(ordered) else group
    return ordered, ranks


def order_run(table: pa.Table, hits: int | None = None) -> pa.Table:
    """A run in `RUN_SCHEMA`: trec_eval order, rank 1..n per query, cut to `hits` per query when given.

    Raises WorkbenchError if a query lists the same doc_id twice (trec_eval aborts on such a run).
    """
    table = table.select(["query_id", "doc_id", "score"]).cast(
        pa.schema([("query_id", pa.string()), ("doc_id", pa.string()), ("score", pa.float64())])
    )
    ordered, ranks = trec_ranks(table)
    if len(ordered) > 1:
        pairs = ordered.group_by(["query_id", "doc_id"]).aggregate([]).num_rows
        if pairs != len(ordered):
            raise WorkbenchError(f"a run lists the same doc_id twice in one query ({len(ordered) - pairs} repeats)")
    run = ordered.append_column("rank", pa.array(ranks, pa.int64()))
    if hits is not None:
        run = run.filter(pc.less_equal(run.column("rank"), hits))
    return run.cast(RUN_SCHEMA)


def doc_texts(docs: pa.Table) -> pa.Array:
    """BEIR's flat text of each document: title + " " + text (a missing title or text counts as empty)."""
    title = pc.fill_null(docs.column("title").combine_chunks().cast(pa.string()), "")
    text = pc.fill_null(docs.column("text").combine_chunks().cast(pa.string()), "")
    return pc.binary_join_element_wise(title, text, " ")


def check_columns(table: pa.Table, required: tuple[str, ...], what: str) -> None:
    """Raise WorkbenchError naming the missing columns of an input table."""
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise WorkbenchError(f"{what} table lacks column(s) {', '.join(missing)}; it has {table.column_names}")


def check_unique(table: pa.Table, column: str, what: str) -> None:
    """Raise WorkbenchError if `column` repeats a value (a doc or query id given twice)."""
    n_distinct = pc.count_distinct(table.column(column)).as_py()
    if n_distinct != len(table):
        raise WorkbenchError(f"{what} table repeats {len(table) - n_distinct} {column} value(s)")
