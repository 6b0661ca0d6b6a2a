"""Vectorised trec_eval-exact scoring of the common measures over Arrow tables (numpy segment ops).

Why not just sort everything: a full (query, score desc, doc_id desc) sort of 7M rows costs more than all
the measures together. Only judged documents influence these measures, so we only need the trec_eval rank of
judged rows plus the number retrieved per query. Run files are almost always already grouped by query and
sorted by score, which we detect in O(n); only then-tied groups that hold a judged document need the doc_id
tie-break (a string sort of those rows alone). Unsorted input is first sorted by (query, score) numerically.

Semantics follow trec_eval 10.0 (`form_res_rels.c` and the `m_*.c` measures): scores compared as float64,
ties by doc_id descending in byte order, qrels grades < 0 are "judged but not relevant" (gain 0, never
counted in num_rel), judged queries missing from the run are scored on an empty ranking (trec_eval -c).
Every value is checked against the ir-measures/pytrec_eval reference path in tests (|diff| < 1e-12).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ir_measures
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure
from ir_measures.providers.base import NOT_PROVIDED

from workbench.scoring.base import Scorer

__all__ = ["FAMILIES", "FAST_VERSION", "SCORER", "FastScorer", "evaluate", "evaluate_ranked", "max_rank",
           "needs_n_ret", "supports"]

FAST_VERSION = "0.1"

_INF = np.iinfo(np.int64).max

_SegCoder = Callable[[pa.Array, "pa.Array | None"], np.ndarray]


@dataclass(frozen=True)
class _Ctx:
    """What every kernel may read besides the ranked rows: per-query counts from the qrels index."""

    n_seg: int
    seg_query: np.ndarray  # query of each segment
    num_rel: dict[int, np.ndarray]  # relevant documents per query, by threshold
    ideal: dict[int, np.ndarray]  # ideal DCG per query, by cutoff


_Kernel = Callable[["_Spec", "_Ranked", _Ctx], np.ndarray]


@dataclass(frozen=True)
class _Family:
    """One vectorised measure (an ir-measures NAME): how its parameters are read, what it needs, its kernel.

    `cutoff`: "required" (P@k), "optional" (AP, AP@k) or "none" (NumRel). `rel`: it takes `rel` (a grade >= 1;
    rel < 1 has no pytrec_eval reference, so it is left to the fallback). `needs`: "num_rel" (relevant documents
    per query by threshold), "ideal" (ideal DCG per query by cutoff), "n_ret" (rows retrieved per query, which a
    ranked read must then fetch). `exact`: any further condition on the parameters. `without_rel`: the family
    used when the measure is given no `rel` (NumRet counts every retrieved row, NumRet(rel=k) relevant ones).
    """

    kernel: _Kernel
    cutoff: str = "optional"
    rel: bool = True
    needs: frozenset[str] = frozenset()
    exact: Callable[[Measure], bool] | None = None
    without_rel: _Family | None = None


@dataclass(frozen=True)
class _Spec:
    """A measure reduced to what the kernels need."""

    family: _Family
    cutoff: int  # _INF when the measure has no cutoff
    rel: int  # minimum grade counted as relevant (binary measures; 0 when the measure takes none)


def _cutoff(m: Measure, required: bool) -> int | None:
    c = m["cutoff"]
    if c is NOT_PROVIDED:
        return None if required else _INF
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        return None
    return c


def _spec(m: Measure) -> _Spec | None:
    """The kernel spec for a measure, or None when this module cannot reproduce it exactly."""
    family = FAMILIES.get(m.NAME or "")
    if family is None:
        return None
    try:
        m.validate_params()
    except Exception:
        return None
    if "judged_only" in m.SUPPORTED_PARAMS and m["judged_only"]:
        return None
    rel = 0
    if family.without_rel is not None and m["rel"] is NOT_PROVIDED:
        family = family.without_rel
    elif family.rel:
        rel = m["rel"]
        if isinstance(rel, bool) or not isinstance(rel, int) or rel < 1:
            return None
    if family.exact is not None and not family.exact(m):
        return None
    cutoff = _INF if family.cutoff == "none" else _cutoff(m, required=family.cutoff == "required")
    return None if cutoff is None else _Spec(family, cutoff, rel)


def supports(m: Measure) -> bool:
    """True when `evaluate` computes this measure exactly as trec_eval/ir-measures do."""
    return _spec(m) is not None


def value_codes(values: pa.ChunkedArray | pa.Array, dictionary: pa.Array) -> np.ndarray:
    """Position of each value in `dictionary` (-1 when absent)."""
    idx = pc.index_in(values, value_set=dictionary)
    if isinstance(idx, pa.ChunkedArray):
        idx = idx.combine_chunks()
    return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + (np.arange(total, dtype=np.int64) - offsets)


def _unique_sorted(col: pa.ChunkedArray) -> pa.Array:
    values = pc.unique(col)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.take(pc.sort_indices(values))


@dataclass
class _Ranked:
    """Judged retrieved rows (segment, trec_eval rank, grade, sorted by segment then rank) + counts."""

    seg: np.ndarray
    rank: np.ndarray
    grade: np.ndarray
    n_ret: np.ndarray  # per segment


@dataclass
class _Layout:
    """Rows grouped into segments (one block per segment), score descending inside each block."""

    block_start: np.ndarray  # first row of each block
    block_seg: np.ndarray  # segment of each block (-1: query not judged)
    tie_start: np.ndarray | None  # first row of each run of equal scores in a block (None: no ties)
    doc_id: pa.Array  # doc_id in layout order
    pos_of_row: np.ndarray | None  # layout position of each input row (None: input already laid out)


def _changes(col: pa.Array) -> np.ndarray:
    """changes[i] is True when row i+1 differs from row i."""
    n = len(col)
    return pc.not_equal(col.slice(1), col.slice(0, n - 1)).to_numpy(zero_copy_only=False)


def _layout(qcol: pa.Array, gcol: pa.Array | None, score: np.ndarray, doc_id: pa.Array, seg_of: _SegCoder) -> _Layout:
    """Find query blocks; sort only when the run is not already grouped by segment and sorted by score."""
    n = len(qcol)
    change = _changes(qcol)
    if gcol is not None:
        change |= _changes(gcol)
    block_start = np.flatnonzero(np.concatenate(([True], change)))
    block_seg = seg_of(qcol.take(pa.array(block_start)), None if gcol is None else gcol.take(pa.array(block_start)))
    judged_blocks = block_seg[block_seg >= 0]
    contiguous = len(np.unique(judged_blocks)) == len(judged_blocks)
    if contiguous and not np.any(~change & (score[1:] > score[:-1])):
        return _Layout(block_start, block_seg, _tie_starts(change, score), doc_id, None)

    # General case: numeric sort by (segment, score desc) of the judged queries' rows; doc_id ties later.
    block_len = np.diff(np.append(block_start, n))
    seg = np.repeat(block_seg, block_len)
    kept = np.flatnonzero(seg >= 0)
    order = pc.sort_indices(
        pa.table({"s": seg[kept], "x": score[kept]}), sort_keys=[("s", "ascending"), ("x", "descending")]
    ).to_numpy()
    rows = kept[order]
    seg, score = seg[rows], score[rows]
    pos_of_row = np.full(n, -1, dtype=np.int64)
    pos_of_row[rows] = np.arange(len(rows), dtype=np.int64)
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Layout(empty, empty, None, doc_id.take(pa.array(rows)), pos_of_row)
    seg_change = seg[1:] != seg[:-1]
    block_start = np.flatnonzero(np.concatenate(([True], seg_change)))
    tie_start = _tie_starts(seg_change, score)
    return _Layout(block_start, seg[block_start], tie_start, doc_id.take(pa.array(rows)), pos_of_row)


def _tie_starts(change: np.ndarray, score: np.ndarray) -> np.ndarray | None:
    """First row of each run of equal scores within a block; None when no two rows of a block tie."""
    tie = ~change & (score[1:] == score[:-1])  # -0.0 == 0.0, as in C
    if not tie.any():
        return None
    return np.flatnonzero(np.concatenate(([True], ~tie)))


def _rank_judged(lay: _Layout, judged_pos: np.ndarray, judged_grade: np.ndarray, n_seg: int) -> _Ranked:
    """trec_eval rank of each judged retrieved row: rows ahead in its block, doc_id desc among equal scores."""
    n = len(lay.doc_id)
    block_len = np.diff(np.append(lay.block_start, n))
    valid = lay.block_seg >= 0
    n_ret = np.bincount(lay.block_seg[valid], weights=block_len[valid], minlength=n_seg).astype(np.int64)
    pos = judged_pos if lay.pos_of_row is None else lay.pos_of_row[judged_pos]
    if len(pos) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Ranked(empty, empty, empty, n_ret)

    b = np.searchsorted(lay.block_start, pos, side="right") - 1
    tie_start = lay.tie_start
    if tie_start is None:
        rank = pos - lay.block_start[b] + 1
    else:
        t = np.searchsorted(tie_start, pos, side="right") - 1
        rank = tie_start[t] - lay.block_start[b] + 1
        nxt = np.where(t + 1 < len(tie_start), tie_start[np.minimum(t + 1, len(tie_start) - 1)], n)
        tied = nxt - tie_start[t] > 1
    if tie_start is not None and np.any(tied):
        groups = np.unique(t[tied])
        gnext = np.where(groups + 1 < len(tie_start), tie_start[np.minimum(groups + 1, len(tie_start) - 1)], n)
        glen = gnext - tie_start[groups]
        members = _ranges(tie_start[groups], glen)
        gid = np.repeat(np.arange(len(groups), dtype=np.int64), glen)
        sub = pa.table({"g": gid, "d": lay.doc_id.take(pa.array(members))})
        order = pc.sort_indices(sub, sort_keys=[("g", "ascending"), ("d", "descending")]).to_numpy()
        # within-group position of each member = number of tied docs with a larger doc_id
        group_offset = np.cumsum(glen) - glen
        within = np.empty(len(members), dtype=np.int64)
        within[order] = np.arange(len(members), dtype=np.int64) - group_offset[gid[order]]
        k = np.searchsorted(members, pos[tied])  # members are increasing positions
        rank[tied] += within[k]

    jseg = lay.block_seg[b]
    order = np.argsort(jseg * (n + 1) + rank, kind="stable")
    return _Ranked(jseg[order], rank[order], judged_grade[order], n_ret)


def _segment_first(seg: np.ndarray, values: np.ndarray, n_seg: int, fill: float) -> np.ndarray:
    """First value per segment (rows sorted by segment)."""
    out = np.full(n_seg, fill, dtype=np.float64)
    if len(seg):
        uniq, first = np.unique(seg, return_index=True)
        out[uniq] = values[first]
    return out


# ---- kernels: one per measure family, (spec, judged retrieved rows ranked, per-query counts) -> value per segment


def _hits(s: _Spec, r: _Ranked) -> np.ndarray:
    """Rows relevant at the measure's threshold (grades < 0 never are) and inside its cutoff."""
    return (r.grade >= s.rel) & (r.grade >= 0) & (r.rank <= s.cutoff)


def _hit_count(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    return np.bincount(r.seg, weights=_hits(s, r).astype(np.float64), minlength=c.n_seg)


def _num_rel(s: _Spec, c: _Ctx) -> np.ndarray:
    return c.num_rel[s.rel][c.seg_query].astype(np.float64)


def _p(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    return _hit_count(s, r, c) / s.cutoff


def _r(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    nrel = _num_rel(s, c)
    return np.divide(_hit_count(s, r, c), nrel, out=np.zeros(c.n_seg), where=nrel > 0)


def _success(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    return (_hit_count(s, r, c) > 0).astype(np.float64)


def _rr(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    hit = _hits(s, r)
    return 1.0 / _segment_first(r.seg[hit], r.rank[hit].astype(np.float64), c.n_seg, np.inf)


def _ap(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    hit = _hits(s, r)
    hseg = r.seg[hit]
    # relevant rows so far in the segment (rows are sorted by segment, rank)
    cum = np.arange(1, len(hseg) + 1, dtype=np.float64)
    if len(hseg):
        starts = np.flatnonzero(np.concatenate(([True], hseg[1:] != hseg[:-1])))
        cum -= np.repeat(starts, np.diff(np.append(starts, len(hseg))))
    total = np.bincount(hseg, weights=cum / r.rank[hit], minlength=c.n_seg)
    nrel = _num_rel(s, c)
    return np.divide(total, nrel, out=np.zeros(c.n_seg), where=nrel > 0)


def _ndcg(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    gain = np.where((r.rank <= s.cutoff) & (r.grade > 0), r.grade, 0).astype(np.float64)
    dcg = np.bincount(r.seg, weights=gain / np.log2(r.rank + 1.0), minlength=c.n_seg)
    idcg = c.ideal[s.cutoff][c.seg_query]
    return np.divide(dcg, idcg, out=np.zeros(c.n_seg), where=idcg > 0)


def _judged(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    hits = np.bincount(r.seg, weights=(r.rank <= s.cutoff).astype(np.float64), minlength=c.n_seg)
    denom = np.minimum(r.n_ret, s.cutoff)
    return np.divide(hits, denom, out=np.zeros(c.n_seg), where=denom > 0)


def _numret(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    return r.n_ret.astype(np.float64)


def _numrelret(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    relevant = (r.grade >= s.rel) & (r.grade >= 0)
    return np.bincount(r.seg, weights=relevant.astype(np.float64), minlength=c.n_seg)


def _numrel(s: _Spec, r: _Ranked, c: _Ctx) -> np.ndarray:
    return _num_rel(s, c)


def _log2_gains(m: Measure) -> bool:
    return m["dcg"] == "log2" and "gains" not in m.params


_NUM_REL = frozenset({"num_rel"})

FAMILIES: dict[str, _Family] = {
    # Adding a measure: a kernel above and one line here (the ir-measures NAME), then its strings in
    # FastScorer.examples: tests/test_scoring_registry.py proves them equal to ir-measures per query.
    "AP": _Family(_ap, needs=_NUM_REL),
    "RR": _Family(_rr),
    "P": _Family(_p, cutoff="required"),
    "R": _Family(_r, cutoff="required", needs=_NUM_REL),
    "Success": _Family(_success, cutoff="required"),
    "nDCG": _Family(_ndcg, rel=False, needs=frozenset({"ideal"}), exact=_log2_gains),
    "Judged": _Family(_judged, rel=False, needs=frozenset({"n_ret"})),
    "NumRel": _Family(_numrel, cutoff="none", needs=_NUM_REL),
    "NumRet": _Family(_numrelret, cutoff="none",
                      without_rel=_Family(_numret, cutoff="none", rel=False, needs=frozenset({"n_ret"}))),
}


@dataclass
class _QrelsIndex:
    """A qrels table as the kernels read it: sorted judged queries, each judgment's query code and grade, and the
    per-query counts of relevant documents (by threshold) and ideal DCGs (by cutoff) computed so far."""

    queries: pa.Array
    codes: np.ndarray
    grade: np.ndarray
    num_rel: dict[int, np.ndarray]
    ideal: dict[int, np.ndarray]
    positive: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (query, grade, place) of grades > 0
    pairs: tuple[pa.Array, np.ndarray, np.ndarray] | None = None  # (doc ids, sorted pair codes, their rows)


_QRELS_INDEX: dict[int, _QrelsIndex] = {}
_QRELS_LOCK = threading.Lock()


def _qrels_index(qrels: pa.Table) -> _QrelsIndex:
    """The _QrelsIndex of `qrels`, kept while the table lives: one analysis scores several rankings against the
    same qrels object (a depth study: its variants, the observed runs and the cutoff curves), and the index
    (350k judgments at MS MARCO scale) is a third of each such call."""
    key = id(qrels)
    with _QRELS_LOCK:
        index = _QRELS_INDEX.get(key)
    if index is not None:
        return index
    queries = _unique_sorted(qrels["query_id"])
    index = _QrelsIndex(queries, value_codes(qrels["query_id"], queries),
                        qrels["relevance"].to_numpy().astype(np.int64, copy=False), {}, {})
    with _QRELS_LOCK:
        if key in _QRELS_INDEX:  # another thread indexed it meanwhile
            return _QRELS_INDEX[key]
        _QRELS_INDEX[key] = index
        weakref.finalize(qrels, _QRELS_INDEX.pop, key, None)  # the id is free again only once the table is gone
    return index


JOIN_ROWS = 1_000_000
"""Runs of at least this many rows find their judged rows with Arrow's hash join (5x less CPU than the lookup at
7M rows); smaller ones with the lookup, which spares them the join's Acero engine, as costly to import as
pyarrow.compute and the larger part of a small `workbench eval`."""


def _judged_rows(qcol: pa.Array, doc_id: pa.Array, qrels: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(row, grade) of each run row whose (query_id, doc_id) is judged; the same pairs either way."""
    if len(qcol) >= JOIN_ROWS:
        pos_type = np.int32 if len(qcol) < 2**31 - 1 else np.int64
        left = pa.table({"query_id": qcol, "doc_id": doc_id, "pos": np.arange(len(qcol), dtype=pos_type)})
        joined = left.join(qrels.select(["query_id", "doc_id", "relevance"]), keys=["query_id", "doc_id"],
                           join_type="inner")
        return joined["pos"].to_numpy().astype(np.int64), joined["relevance"].to_numpy()
    return _judged_rows_by_lookup(qcol, doc_id, qrels)


def _judged_rows_by_lookup(qcol: pa.Array, doc_id: pa.Array, qrels: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """_judged_rows in row order, by a lookup of the rows' (query, doc) codes among the qrels' sorted pair codes
    (kept in the qrels index)."""
    index = _qrels_index(qrels)
    if index.pairs is None:
        docs = pc.unique(qrels["doc_id"])
        docs = docs.combine_chunks() if isinstance(docs, pa.ChunkedArray) else docs
        keys = index.codes * len(docs) + value_codes(qrels["doc_id"], docs)  # < judgments**2: fits in 64 bits
        order = np.argsort(keys, kind="stable")
        index.pairs = (docs, keys[order], order)
    docs, sorted_keys, order = index.pairs
    q, d = value_codes(qcol, index.queries), value_codes(doc_id, docs)
    rows = np.flatnonzero((q >= 0) & (d >= 0))
    keys = q[rows] * len(docs) + d[rows]
    at = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
    hit = sorted_keys[at] == keys if len(sorted_keys) else np.zeros(len(keys), dtype=bool)
    return rows[hit], index.grade[order[at[hit]]]


def _qrels_stats(index: _QrelsIndex, specs: Sequence[_Spec]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """(relevant documents per query by threshold, ideal DCG per query by cutoff) for `specs`, computed once per
    qrels index (dict writes of equal values: two threads computing the same key at once agree)."""
    n_q, q, grade = len(index.queries), index.codes, index.grade
    for s in specs:
        if "num_rel" in s.family.needs and s.rel not in index.num_rel:
            keep = grade >= max(s.rel, 0)
            index.num_rel[s.rel] = np.bincount(q[keep], minlength=n_q)
    cutoffs = sorted({s.cutoff for s in specs if "ideal" in s.family.needs} - set(index.ideal))
    if cutoffs and index.positive is None:
        pos_mask = grade > 0
        pq, pg = q[pos_mask], grade[pos_mask]
        order = np.lexsort((-pg, pq))
        pq, pg = pq[order], pg[order]
        starts = np.flatnonzero(np.concatenate(([True], pq[1:] != pq[:-1]))) if len(pq) else pq
        index.positive = (pq, pg, np.arange(len(pq)) - np.repeat(starts, np.diff(np.append(starts, len(pq)))))
    if cutoffs:
        pq, pg, i = index.positive  # type: ignore[misc]
        contrib = pg / np.log2(i + 2.0)
        for k in cutoffs:
            index.ideal[k] = np.bincount(pq, weights=np.where(i < k, contrib, 0.0), minlength=n_q)
    return index.num_rel, index.ideal


def evaluate(run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *, group: str | None = None) -> pa.Table:
    """Per-query values for every (group value x judged query x measure); all measures must be supported.

    `run` needs query_id, doc_id, score (float64) [and `group`]; `qrels` needs query_id, doc_id, relevance.
    Rows come out ordered by group, query_id (byte order), then the given measure order.
    """
    specs = [_spec(m) for m in measures]
    if any(s is None for s in specs):
        bad = [str(m) for m, s in zip(measures, specs, strict=True) if s is None]
        raise ValueError(f"fast scoring does not support {bad}")

    queries = _qrels_index(qrels).queries
    n_q = len(queries)
    gvalues = _unique_sorted(run[group]) if group is not None else None
    n_g = 1 if gvalues is None else len(gvalues)
    n_seg = n_g * n_q

    def seg_of(q: pa.Array, g: pa.Array | None) -> np.ndarray:
        codes = value_codes(q, queries)
        if g is None or gvalues is None:
            return codes
        return np.where(codes >= 0, value_codes(g, gvalues) * n_q + codes, -1)

    qcol = run["query_id"].combine_chunks()
    doc_id = run["doc_id"].combine_chunks()
    score = run["score"].to_numpy()
    gcol = run[group].combine_chunks() if group is not None else None

    # grade of each judged retrieved row, overlapped with the layout work
    with ThreadPoolExecutor(max_workers=1) as pool:
        judged_f = pool.submit(_judged_rows, qcol, doc_id, qrels)
        if len(qcol):
            lay = _layout(qcol, gcol, score, doc_id, seg_of)
        else:
            empty = np.zeros(0, dtype=np.int64)
            lay = _Layout(empty, empty, None, doc_id, None)
        judged_pos, judged_grade = judged_f.result()
    ranked = _rank_judged(lay, judged_pos, judged_grade, n_seg)
    return _score(ranked, queries, qrels, specs, measures, gvalues, group)


def evaluate_ranked(judged: pa.Table, n_ret: pa.Table | None, qrels: pa.Table, measures: Sequence[Measure], *,
                    group: str | None = None, groups: pa.Array | None = None) -> pa.Table:
    """`evaluate` for a run whose trec_eval ranks are known (stored at ingest): no layout, no tie-break sort.

    `judged` holds the run's judged rows (query_id, rank, relevance), `rank` being the 1-based trec_eval position
    in its query; rows ranked below `max_rank(measures)` may be left out. `n_ret` (query_id, n: rows retrieved)
    is needed only when `needs_n_ret(measures)`. `group` names a column of both tables whose values are scored
    as separate runs (`evaluate`'s group); `groups`: every group value (default: those `judged` holds), so a
    group without judged rows still gets its zeros. Output as `evaluate`'s.
    """
    specs = [_spec(m) for m in measures]
    if any(s is None for s in specs):
        bad = [str(m) for m, s in zip(measures, specs, strict=True) if s is None]
        raise ValueError(f"fast scoring does not support {bad}")
    if n_ret is None and needs_n_ret(measures):
        raise ValueError("these measures need the number of rows retrieved per query (n_ret)")
    queries = _qrels_index(qrels).queries
    n_q = len(queries)
    gvalues = None
    if group is not None:
        gvalues = _unique_sorted(judged[group] if groups is None else pa.chunked_array([groups]))
    n_g = 1 if gvalues is None else len(gvalues)

    def seg_of(table: pa.Table) -> np.ndarray:
        codes = value_codes(table["query_id"], queries)
        if gvalues is None:
            return codes
        return np.where(codes >= 0, value_codes(table[group], gvalues) * n_q + codes, -1)

    seg = seg_of(judged)
    keep = np.flatnonzero(seg >= 0)
    seg = seg[keep]
    rank = judged["rank"].to_numpy().astype(np.int64)[keep]
    grade = judged["relevance"].to_numpy().astype(np.int64)[keep]
    order = np.lexsort((rank, seg))
    counts = np.zeros(n_g * n_q, dtype=np.int64)
    if n_ret is not None:
        nseg = seg_of(n_ret)
        hit = nseg >= 0
        counts[nseg[hit]] = n_ret["n"].to_numpy().astype(np.int64)[hit]
    ranked = _Ranked(seg[order], rank[order], grade[order], counts)
    return _score(ranked, queries, qrels, specs, measures, gvalues, group)


def max_rank(measures: Sequence[Measure]) -> int | None:
    """The deepest rank any of `measures` looks at; None when one of them reads the whole ranking."""
    specs = [_spec(m) for m in measures]
    known = [s for s in specs if s is not None]
    if not specs or len(known) < len(specs) or any(s.cutoff == _INF for s in known):
        return None
    return max(s.cutoff for s in known)


def needs_n_ret(measures: Sequence[Measure]) -> bool:
    """True when a measure counts retrieved rows beyond the judged ones (Judged@k, NumRet)."""
    return any(s is not None and "n_ret" in s.family.needs for s in map(_spec, measures))


def _score(ranked: _Ranked, queries: pa.Array, qrels: pa.Table, specs: Sequence[_Spec | None],
           measures: Sequence[Measure], gvalues: pa.Array | None, group: str | None) -> pa.Table:
    """The measures' per-query values from the judged rows' ranks, in `evaluate`'s output layout."""
    n_q = len(queries)
    n_g = 1 if gvalues is None else len(gvalues)
    n_seg = n_g * n_q
    num_rel, ideal = _qrels_stats(_qrels_index(qrels), [s for s in specs if s is not None])

    seg_query = np.tile(np.arange(n_q, dtype=np.int64), n_g)
    ctx = _Ctx(n_seg, seg_query, num_rel, ideal)
    n_m = len(measures)
    values = np.empty((n_seg, n_m), dtype=np.float64)
    for j, s in enumerate(specs):
        assert s is not None
        values[:, j] = s.family.kernel(s, ranked, ctx)

    names = [str(m) for m in measures]
    cols = {
        "query_id": queries.take(pa.array(np.repeat(seg_query, n_m))),
        "measure": pa.array(np.tile(np.array(names, dtype=object), n_seg), pa.string()),
        "value": pa.array(values.reshape(-1)),
    }
    if gvalues is not None and group is not None:
        cols[group] = gvalues.take(pa.array(np.repeat(np.repeat(np.arange(n_g), n_q), n_m)))
    return pa.table(cols)


class FastScorer(Scorer):
    """The vectorised trec_eval-exact scorer: the FAMILIES above, over whole runs or stored trec_eval positions."""

    name = "fast"
    version = FAST_VERSION
    trusted = True
    sorted_output = True
    examples = (
        "nDCG", "nDCG@1", "nDCG@3", "nDCG@10", "AP", "AP@5", "AP(rel=2)", "RR", "RR@1", "RR@3",
        "RR(rel=2)@10", "RR(rel=3)", "P@1", "P@5", "P(rel=2)@10", "R@5", "R(rel=2)@100", "R(rel=3)@3",
        "Success@1", "Success(rel=2)@5", "Judged", "Judged@1", "Judged@10", "NumRet", "NumRel", "NumRel(rel=2)",
        "NumRelRet", "NumRet(rel=2)",
    )  # fmt: skip

    def __reduce__(self) -> str:
        return "SCORER"  # unpickled (a Ray worker) as this module's one instance

    def supports(self, m: Measure) -> bool:
        return supports(m)

    def evaluator_id(self, m: Measure) -> str:
        return f"workbench.fast {FAST_VERSION} (ir_measures {ir_measures.__version__} parity)"

    def evaluate(self, run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *,
                 group: str | None = None) -> pa.Table:
        return evaluate(run, qrels, measures, group=group)

    def max_rank(self, measures: Sequence[Measure]) -> int | None:
        return max_rank(measures)

    def needs_n_ret(self, measures: Sequence[Measure]) -> bool:
        return needs_n_ret(measures)

    def evaluate_ranked(self, judged: pa.Table, n_ret: pa.Table | None, qrels: pa.Table,
                        measures: Sequence[Measure], *, group: str | None = None,
                        groups: pa.Array | None = None) -> pa.Table:
        return evaluate_ranked(judged, n_ret, qrels, measures, group=group, groups=groups)


SCORER = FastScorer()
