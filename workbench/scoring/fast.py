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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure
from ir_measures.providers.base import NOT_PROVIDED

__all__ = ["FAST_VERSION", "evaluate", "supports"]

FAST_VERSION = "0.1"

_INF = np.iinfo(np.int64).max


@dataclass(frozen=True)
class _Spec:
    """A measure reduced to what the kernels need."""

    kind: str  # ndcg ap rr p r success judged numret numrelret numrel
    cutoff: int  # _INF when the measure has no cutoff
    rel: int  # minimum grade counted as relevant (binary measures)


def _cutoff(m: Measure, required: bool) -> int | None:
    c = m["cutoff"]
    if c is NOT_PROVIDED:
        return None if required else _INF
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        return None
    return c


def _spec(m: Measure) -> _Spec | None:
    """The kernel spec for a measure, or None when this module cannot reproduce it exactly."""
    try:
        m.validate_params()
    except Exception:
        return None
    name = m.NAME
    params = m.params
    if name in ("AP", "RR", "P", "R", "Success"):
        if m["judged_only"]:
            return None
        rel = m["rel"]
        # rel < 0 would make trec_eval count unjudged (-1) docs as relevant in some measures: leave to fallback
        if isinstance(rel, bool) or not isinstance(rel, int) or rel < 0:
            return None
        cutoff = _cutoff(m, required=name in ("P", "R", "Success"))
        if cutoff is None:
            return None
        return _Spec(name.lower(), cutoff, rel)
    if name == "nDCG":
        if m["judged_only"] or m["dcg"] != "log2" or "gains" in params:
            return None
        cutoff = _cutoff(m, required=False)
        return None if cutoff is None else _Spec("ndcg", cutoff, 1)
    if name == "Judged":
        cutoff = _cutoff(m, required=False)
        return None if cutoff is None else _Spec("judged", cutoff, 0)
    if name in ("NumRet", "NumRel"):
        rel = m["rel"]
        if name == "NumRet" and rel is NOT_PROVIDED:
            return _Spec("numret", _INF, 0)
        if isinstance(rel, bool) or not isinstance(rel, int) or rel < 0:
            return None
        return _Spec("numrelret" if name == "NumRet" else "numrel", _INF, rel)
    return None


def supports(m: Measure) -> bool:
    """True when `evaluate` computes this measure exactly as trec_eval/ir-measures do."""
    return _spec(m) is not None


def _codes(values: pa.ChunkedArray | pa.Array, dictionary: pa.Array) -> np.ndarray:
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


def _rank_judged(
    seg: np.ndarray,
    score: np.ndarray,
    doc_id: pa.Array,
    judged_pos: np.ndarray,
    judged_grade: np.ndarray,
    n_seg: int,
) -> _Ranked:
    n = len(seg)
    n_ret = np.bincount(seg, minlength=n_seg).astype(np.int64)
    if n == 0 or len(judged_pos) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Ranked(empty, empty, empty, n_ret)

    same_seg = seg[1:] == seg[:-1]
    block_start = np.flatnonzero(np.concatenate(([True], ~same_seg)))
    contiguous = len(np.unique(seg[block_start])) == len(block_start)
    presorted = contiguous and not np.any(same_seg & (score[1:] > score[:-1]))
    pos_of_row = None
    if not presorted:
        # Numeric sort by (segment, score desc); doc_id ties are resolved below like in the presorted case.
        order = pc.sort_indices(
            pa.table({"s": seg, "x": score}), sort_keys=[("s", "ascending"), ("x", "descending")]
        ).to_numpy()
        seg = seg[order]
        score = score[order]
        doc_id = doc_id.take(pa.array(order))
        pos_of_row = np.empty(n, dtype=np.int64)
        pos_of_row[order] = np.arange(n, dtype=np.int64)
        same_seg = seg[1:] == seg[:-1]
        block_start = np.flatnonzero(np.concatenate(([True], ~same_seg)))

    pos = judged_pos if pos_of_row is None else pos_of_row[judged_pos]
    # Tie groups: maximal runs of equal score inside a segment (-0.0 == 0.0, as in C).
    tie_start = np.flatnonzero(np.concatenate(([True], ~same_seg | (score[1:] != score[:-1]))))
    tie_len = np.diff(np.append(tie_start, n))
    t = np.searchsorted(tie_start, pos, side="right") - 1
    b = np.searchsorted(block_start, pos, side="right") - 1
    rank = tie_start[t] - block_start[b] + 1

    tied = tie_len[t] > 1
    if np.any(tied):
        groups = np.unique(t[tied])
        members = _ranges(tie_start[groups], tie_len[groups])
        gid = np.repeat(np.arange(len(groups), dtype=np.int64), tie_len[groups])
        sub = pa.table({"g": gid, "d": doc_id.take(pa.array(members))})
        order = pc.sort_indices(sub, sort_keys=[("g", "ascending"), ("d", "descending")]).to_numpy()
        # within-group position of each member = number of tied docs with a larger doc_id
        group_offset = np.cumsum(tie_len[groups]) - tie_len[groups]
        within = np.empty(len(members), dtype=np.int64)
        within[order] = np.arange(len(members), dtype=np.int64) - group_offset[gid[order]]
        # look up judged tied rows among members (members are increasing positions)
        k = np.searchsorted(members, pos[tied])
        rank[tied] += within[k]

    jseg = seg[pos]
    order = np.lexsort((rank, jseg))
    return _Ranked(jseg[order], rank[order], judged_grade[order], n_ret)


def _segment_first(seg: np.ndarray, values: np.ndarray, n_seg: int, fill: float) -> np.ndarray:
    """First value per segment (rows sorted by segment)."""
    out = np.full(n_seg, fill, dtype=np.float64)
    if len(seg):
        uniq, first = np.unique(seg, return_index=True)
        out[uniq] = values[first]
    return out


def _kernel(
    spec: _Spec,
    r: _Ranked,
    n_seg: int,
    seg_query: np.ndarray,
    num_rel: dict[int, np.ndarray],
    ideal: dict[int, np.ndarray],
) -> np.ndarray:
    k = spec.cutoff
    in_cut = r.rank <= k
    if spec.kind == "numret":
        return r.n_ret.astype(np.float64)
    if spec.kind == "numrel":
        return num_rel[spec.rel][seg_query].astype(np.float64)
    if spec.kind == "judged":
        hits = np.bincount(r.seg, weights=in_cut.astype(np.float64), minlength=n_seg)
        denom = np.minimum(r.n_ret, k)
        return np.divide(hits, denom, out=np.zeros(n_seg), where=denom > 0)
    if spec.kind == "ndcg":
        gain = np.where(in_cut & (r.grade > 0), r.grade, 0).astype(np.float64)
        dcg = np.bincount(r.seg, weights=gain / np.log2(r.rank + 1.0), minlength=n_seg)
        idcg = ideal[k][seg_query]
        return np.divide(dcg, idcg, out=np.zeros(n_seg), where=idcg > 0)

    relevant = (r.grade >= spec.rel) & (r.grade >= 0)
    hit = relevant & in_cut
    nrel = num_rel[spec.rel][seg_query].astype(np.float64)
    if spec.kind == "numrelret":
        return np.bincount(r.seg, weights=relevant.astype(np.float64), minlength=n_seg)
    if spec.kind in ("p", "r", "success"):
        count = np.bincount(r.seg, weights=hit.astype(np.float64), minlength=n_seg)
        if spec.kind == "p":
            return count / k
        if spec.kind == "success":
            return (count > 0).astype(np.float64)
        return np.divide(count, nrel, out=np.zeros(n_seg), where=nrel > 0)
    if spec.kind == "rr":
        first = _segment_first(r.seg[hit], r.rank[hit].astype(np.float64), n_seg, np.inf)
        return 1.0 / first
    if spec.kind == "ap":
        hseg = r.seg[hit]
        # relevant rows so far in the segment (rows are sorted by segment, rank)
        cum = np.arange(1, len(hseg) + 1, dtype=np.float64)
        if len(hseg):
            starts = np.flatnonzero(np.concatenate(([True], hseg[1:] != hseg[:-1])))
            cum -= np.repeat(starts, np.diff(np.append(starts, len(hseg))))
        prec = cum / r.rank[hit]
        total = np.bincount(hseg, weights=prec, minlength=n_seg)
        return np.divide(total, nrel, out=np.zeros(n_seg), where=nrel > 0)
    raise AssertionError(spec.kind)  # pragma: no cover - _spec only produces the kinds above


def _qrels_stats(
    q: np.ndarray, grade: np.ndarray, n_q: int, specs: Sequence[_Spec]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    num_rel: dict[int, np.ndarray] = {}
    ideal: dict[int, np.ndarray] = {}
    for s in specs:
        if s.kind in ("ap", "rr", "p", "r", "success", "numrelret", "numrel") and s.rel not in num_rel:
            keep = grade >= max(s.rel, 0)
            num_rel[s.rel] = np.bincount(q[keep], minlength=n_q)
    cutoffs = sorted({s.cutoff for s in specs if s.kind == "ndcg"})
    if cutoffs:
        pos_mask = grade > 0
        pq, pg = q[pos_mask], grade[pos_mask]
        order = np.lexsort((-pg, pq))
        pq, pg = pq[order], pg[order]
        starts = np.flatnonzero(np.concatenate(([True], pq[1:] != pq[:-1]))) if len(pq) else pq
        i = np.arange(len(pq)) - np.repeat(starts, np.diff(np.append(starts, len(pq))))
        contrib = pg / np.log2(i + 2.0)
        for k in cutoffs:
            ideal[k] = np.bincount(pq, weights=np.where(i < k, contrib, 0.0), minlength=n_q)
    return num_rel, ideal


def evaluate(run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *, group: str | None = None) -> pa.Table:
    """Per-query values for every (group value x judged query x measure); all measures must be supported.

    `run` needs query_id, doc_id, score (float64) [and `group`]; `qrels` needs query_id, doc_id, relevance.
    Rows come out ordered by group, query_id (byte order), then the given measure order.
    """
    specs = [_spec(m) for m in measures]
    if any(s is None for s in specs):
        bad = [str(m) for m, s in zip(measures, specs, strict=True) if s is None]
        raise ValueError(f"fast scoring does not support {bad}")

    queries = _unique_sorted(qrels["query_id"])
    n_q = len(queries)
    run_q = _codes(run["query_id"], queries)

    if group is not None:
        gcol = run[group]
        gvalues = _unique_sorted(gcol)
        run_g = _codes(gcol, gvalues)
        n_g = len(gvalues)
    else:
        gvalues = None
        run_g = np.zeros(len(run_q), dtype=np.int64)
        n_g = 1
    n_seg = n_g * n_q

    keep = run_q >= 0
    all_kept = bool(keep.all())
    seg = run_g * n_q + run_q
    score = run["score"].to_numpy()
    if all_kept:
        doc_id = run["doc_id"].combine_chunks()
    else:
        seg, score = seg[keep], score[keep]
        doc_id = run["doc_id"].combine_chunks().filter(pa.array(keep))
    row_q = run["query_id"] if all_kept else run["query_id"].filter(pa.array(keep))

    # grade of each judged retrieved row: hash join on (query_id, doc_id)
    left = pa.table({"query_id": row_q, "doc_id": doc_id, "pos": np.arange(len(seg), dtype=np.int64)})
    right = qrels.select(["query_id", "doc_id", "relevance"])
    joined = left.join(right, keys=["query_id", "doc_id"], join_type="inner", use_threads=True)
    judged_pos = joined["pos"].to_numpy()
    judged_grade = joined["relevance"].to_numpy().astype(np.int64, copy=False)

    ranked = _rank_judged(seg, score, doc_id, judged_pos, judged_grade, n_seg)

    q_codes = _codes(qrels["query_id"], queries)
    q_grade = qrels["relevance"].to_numpy().astype(np.int64, copy=False)
    num_rel, ideal = _qrels_stats(q_codes, q_grade, n_q, [s for s in specs if s is not None])

    seg_query = np.tile(np.arange(n_q, dtype=np.int64), n_g)
    n_m = len(measures)
    values = np.empty((n_seg, n_m), dtype=np.float64)
    for j, s in enumerate(specs):
        assert s is not None
        values[:, j] = _kernel(s, ranked, n_seg, seg_query, num_rel, ideal)

    names = [str(m) for m in measures]
    cols = {
        "query_id": queries.take(pa.array(np.repeat(seg_query, n_m))),
        "measure": pa.array(np.tile(np.array(names, dtype=object), n_seg), pa.string()),
        "value": pa.array(values.reshape(-1)),
    }
    if gvalues is not None:
        cols[group] = gvalues.take(pa.array(np.repeat(np.repeat(np.arange(n_g), n_q), n_m)))
    return pa.table(cols)
