"""The run and qrels tables every scorer is given: the columns scoring reads, with the model's types, checked.

Done once per call by the registry, so no scorer (a plugin included) sees a NaN score, a missing value or a
qrels pair judged twice, and each computes on the same normalised input.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import WorkbenchError

__all__ = ["normalise", "normalise_qrels"]


def _column(table: pa.Table, name: str, what: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise WorkbenchError(f"{what} table has no {name!r} column (columns: {', '.join(table.column_names)})")
    return table[name]


def _as(col: pa.ChunkedArray, typ: pa.DataType, what: str) -> pa.ChunkedArray:
    if col.type == typ:
        return col
    try:
        return pc.cast(col, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise WorkbenchError(f"{what} cannot be read as {typ}: {e}") from None


def normalise(run: pa.Table, qrels: pa.Table, group: str | None, *,
              check_pairs: bool = True) -> tuple[pa.Table, pa.Table]:
    """Project to the columns scoring reads, with the model's types, and refuse what trec_eval refuses."""
    cols = {
        "query_id": _as(_column(run, "query_id", "run"), pa.string(), "run query_id"),
        "doc_id": _as(_column(run, "doc_id", "run"), pa.string(), "run doc_id"),
        "score": _as(_column(run, "score", "run"), pa.float64(), "run score"),
    }
    if group is not None:
        if group in cols:
            raise WorkbenchError(f"group column {group!r} clashes with a run column scoring uses")
        cols[group] = _column(run, group, "run")
        if cols[group].null_count:
            raise WorkbenchError(f"run group column {group!r} has missing values")
    run_n = pa.table(cols)
    for name in ("query_id", "doc_id", "score"):
        if run_n[name].null_count:
            raise WorkbenchError(f"run has missing {name} values")
    if run_n.num_rows and pc.any(pc.is_nan(run_n["score"])).as_py():
        raise WorkbenchError("run has NaN scores; trec_eval cannot order them")
    return run_n, normalise_qrels(qrels, check_pairs=check_pairs)


_QRELS_SCHEMA = pa.schema([("query_id", pa.string()), ("doc_id", pa.string()), ("relevance", pa.int64())])


def normalise_qrels(qrels: pa.Table, *, check_pairs: bool = True) -> pa.Table:
    """The qrels with the model's columns and types; the same table when it has them (the store's), so the
    scorer's index of it (fast._qrels_index) serves every call an analysis makes with it."""
    if qrels.schema.equals(_QRELS_SCHEMA):
        qrels_n = qrels
    else:
        qrels_n = pa.table(
            {
                "query_id": _as(_column(qrels, "query_id", "qrels"), pa.string(), "qrels query_id"),
                "doc_id": _as(_column(qrels, "doc_id", "qrels"), pa.string(), "qrels doc_id"),
                "relevance": _as(_column(qrels, "relevance", "qrels"), pa.int64(), "qrels relevance"),
            }
        )
    if any(qrels_n[c].null_count for c in qrels_n.column_names):
        raise WorkbenchError("qrels have missing values")
    if check_pairs and qrels_n.num_rows:
        pairs = qrels_n.group_by(["query_id", "doc_id"]).aggregate([]).num_rows
        if pairs != qrels_n.num_rows:
            raise WorkbenchError(
                f"qrels judge {qrels_n.num_rows - pairs} (query_id, doc_id) pair(s) twice; trec_eval refuses this"
            )
    return qrels_n
