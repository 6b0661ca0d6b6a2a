"""One entry point for scoring: each measure goes to the vectorised path when it is exact, else ir-measures.

Both paths implement the same semantics (`SEMANTICS`, stored with every score) and are tested to agree per
query, so which one served a measure only shows up in `evaluator_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ir_measures
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure

from workbench.errors import WorkbenchError
from workbench.scoring import fallback, fast, iprec
from workbench.scoring.measures import is_summed, parse_measures

__all__ = ["SEMANTICS", "RankedPlan", "aggregate", "evaluate", "evaluate_ranked", "evaluator_id", "ranked_plan"]

SEMANTICS = "trec_eval10(-c,score:f64 desc,doc_id desc)"
"""Ranking and query-set semantics: trec_eval 10.0 with -c (see docs/design.md, Semantics)."""


def evaluator_id(measure: Measure | str) -> str:
    """Implementation and versions that serve `measure`, e.g. `workbench.fast 0.1 (ir_measures 0.4.3 parity)`."""
    (m,) = parse_measures([measure])
    if fast.supports(m):
        return f"workbench.fast {fast.FAST_VERSION} (ir_measures {ir_measures.__version__} parity)"
    if iprec.supports(m):
        return iprec.VERSION
    return fallback.evaluator_id(m)


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


def _normalise(run: pa.Table, qrels: pa.Table, group: str | None, *,
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
    return run_n, _normalise_qrels(qrels, check_pairs=check_pairs)


_QRELS_SCHEMA = pa.schema([("query_id", pa.string()), ("doc_id", pa.string()), ("relevance", pa.int64())])


def _normalise_qrels(qrels: pa.Table, *, check_pairs: bool = True) -> pa.Table:
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


def evaluate(
    run: pa.Table,
    qrels: pa.Table,
    measures: Sequence[Measure | str],
    *,
    group: str | None = None,
    stored_qrels: bool = False,
) -> pa.Table:
    """Per-query scores of `run` (query_id, measure, value[, group]) with trec_eval -c semantics.

    Every judged query (in `qrels`) gets a row per measure, 0 when the run misses it (NumRel keeps its
    count); run queries without judgments are dropped. `group` names a run column whose values are scored
    as separate runs in one pass (e.g. `depth` for a depth sweep); it is carried into the output.
    Rows are ordered by group, query_id, then the order of `measures`. `stored_qrels`: as `evaluate_ranked`'s.
    """
    ms = list(dict.fromkeys(parse_measures(measures)))
    run_n, qrels_n = _normalise(run, qrels, group, check_pairs=not stored_qrels)
    fast_ms = [m for m in ms if fast.supports(m)]
    iprec_ms = [m for m in ms if not fast.supports(m) and iprec.supports(m)]  # trec_eval 10's rounding
    slow_ms = [m for m in ms if not fast.supports(m) and not iprec.supports(m)]
    for m in slow_ms:
        fallback.route(m)  # fail before any work when no provider can serve a measure
    parts = []
    if fast_ms:
        parts.append(fast.evaluate(run_n, qrels_n, fast_ms, group=group))
    if iprec_ms:
        parts.append(iprec.evaluate(run_n, qrels_n, iprec_ms, group=group))
    if slow_ms:
        parts.append(fallback.evaluate(run_n, qrels_n, slow_ms, group=group))
    if len(parts) == 1 and fast_ms:
        return parts[0]
    table = pa.concat_tables(parts)
    position = {str(m): i for i, m in enumerate(ms)}
    mpos = pa.array(np.array([position[s] for s in table["measure"].to_pylist()], dtype=np.int64))
    keys = ([(group, "ascending")] if group else []) + [("query_id", "ascending"), ("_m", "ascending")]
    order = pc.sort_indices(table.append_column("_m", mpos), sort_keys=keys)
    return table.take(order)


@dataclass(frozen=True)
class RankedPlan:
    """What `evaluate_ranked` needs read from a stored run: judged rows down to `max_rank` (None: all of them),
    and the rows retrieved per query when `n_ret`."""

    max_rank: int | None
    n_ret: bool


def ranked_plan(measures: Sequence[Measure | str]) -> RankedPlan | None:
    """How to score `measures` from stored trec_eval positions; None when one of them needs the whole run."""
    ms = parse_measures(measures)
    if not all(fast.supports(m) for m in ms):
        return None
    return RankedPlan(fast.max_rank(ms), fast.needs_n_ret(ms))


def evaluate_ranked(
    judged: pa.Table, n_ret: pa.Table | None, qrels: pa.Table, measures: Sequence[Measure | str], *,
    stored_qrels: bool = False, group: str | None = None, groups: pa.Array | None = None,
) -> pa.Table:
    """`evaluate` of a stored run from its judged rows' trec_eval positions (query_id, rank, relevance).

    The store keeps each row's trec_eval position, so scoring a stored run needs only its judged rows (down to
    the deepest cutoff), joined in SQL: no 7M-row read, layout or tie-break. Only for measures `ranked_plan`
    accepts; same values and output as `evaluate` (tested per query). `stored_qrels`: the qrels were read from the
    store, whose `collection add` refused or collapsed repeated judgments, so they are not checked again.
    `group`/`groups`: several runs scored in one pass, as `evaluate`'s group (see `fast.evaluate_ranked`).
    """
    ms = list(dict.fromkeys(parse_measures(measures)))
    if ranked_plan(ms) is None:
        raise WorkbenchError(f"not every measure of {[str(m) for m in ms]} can be scored from stored ranks")
    return fast.evaluate_ranked(judged, n_ret, _normalise_qrels(qrels, check_pairs=not stored_qrels), ms,
                                group=group, groups=groups)


def aggregate(scores: pa.Table, *, group: str | None = None) -> dict:
    """Across-query summary as trec_eval prints it in its `all` rows: mean, but sum for NumRel/NumRet/NumQ.

    Sums are exact (math.fsum, then one division for a mean), so every path that aggregates the same per-query
    values (`ingest --measures`, `evaluate`, `eval`) gives the same float, whatever the order of the rows.
    Returns {measure: value}, or {group value: {measure: value}} when `group` is given.
    """
    from math import fsum

    if scores.num_rows == 0:
        return {}
    measure = pc.dictionary_encode(scores["measure"]).combine_chunks()
    names = measure.dictionary.to_pylist()
    key = measure.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    gnames: list = [None]
    if group:
        gcol = pc.dictionary_encode(scores[group]).combine_chunks()
        gnames = gcol.dictionary.to_pylist()
        key = gcol.indices.to_numpy(zero_copy_only=False).astype(np.int64) * len(names) + key
    values = scores["value"].combine_chunks().to_numpy(zero_copy_only=False)
    order = np.argsort(key, kind="stable")
    key, values = key[order], values[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    summed = [is_summed(m) for m in parse_measures(names)]
    out: dict = {}
    for start, end in zip(starts, np.r_[starts[1:], len(key)], strict=True):
        g, j = divmod(int(key[start]), len(names))
        total = fsum(values[start:end])
        value = total if summed[j] else total / int(end - start)
        if group:
            out.setdefault(gnames[g], {})[names[j]] = value
        else:
            out[names[j]] = value
    return out
