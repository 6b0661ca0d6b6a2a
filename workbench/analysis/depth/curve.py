"""The depth curve: a measure of R applied to F's top k for each k, with paired bootstrap CIs over queries.

Given a first stage F and a reranked run R (R reordered F's top-K), the run "R at depth k" is derivable
without calling the reranker again: F's top-k documents reordered by R's order, then F's tail in F's order.
This assumes the reranker scores documents independently of the pool (pointwise) -- for listwise LLM
rerankers (sliding windows) it is an approximation, which is why `depth_curve` also plots *observed* runs
reranked at other depths beside the derived curve.

All orders are trec_eval's (score desc, doc_id desc), not the rank column. The variants are scored from their
ranks (`RerankPair.ranked_variants`, numpy) when the measures allow, else built in one DuckDB query over Arrow
(a `depth` column) and scored with one evaluate(..., group="depth") call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.checks import check_count, check_seed
from workbench.analysis.depth.join import check_run, derive
from workbench.analysis.depth.pair import RerankPair, rerank_pair
from workbench.analysis.depth.results import CurvePoint, DepthCurve, RankedRows
from workbench.analysis.stats import DEFAULT_BOOTSTRAP, bootstrap_means, percentile_interval
from workbench.errors import AnalysisError
from workbench.model import RUN_SCHEMA
from workbench.scoring import evaluate, evaluate_ranked, measure_name, ranked_plan
from workbench.scoring.fast import value_codes

DEFAULT_GRID = (0, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def max_cutoff(measures: Sequence[str]) -> int | None:
    """The largest @cutoff if every measure has one (then deeper ranks cannot matter), else None."""
    import ir_measures

    cuts = []
    for m in measures:
        cutoff = ir_measures.parse_measure(m).params.get("cutoff")
        if not isinstance(cutoff, int):
            return None
        cuts.append(cutoff)
    return max(cuts) if cuts else None


def depth_grid(k_max: int, extra: Sequence[int]) -> list[int]:
    """DEFAULT_GRID below k_max, k_max itself and the `extra` depths (observed runs' ones) up to k_max."""
    return sorted({*(d for d in DEFAULT_GRID if d < k_max), k_max, *(d for d in extra if 0 <= d <= k_max)})



def rerank_depth(first: pa.Table, reranked: pa.Table) -> int:
    """The deepest trec_eval position at which R's order differs from F's, over all queries (0 if never).

    Only positions R has count, so an R that lists just its reranked top-K (and not F's tail) gives K.
    At this depth the derived run equals R.
    """
    with RerankPair(first, reranked) as pair:
        return pair.k_max


def derive_depth_run(first: pa.Table, reranked: pa.Table, k: int) -> pa.Table:
    """The run "R applied to F's top-k": F's top-k in R's order, then F's tail in F's order (RUN_SCHEMA).

    Scores are -rank so trec_eval's order is the derived order. Documents of R that F lacks are ignored;
    F's top-k documents R lacks follow R's ordered ones, in F's order.
    """
    if k < 0:
        raise AnalysisError(f"depth must be >= 0, got {k}")
    out = derive(first, reranked, [k], None, ordered=True)
    return out.select(["query_id", "doc_id", "score", "rank"]).cast(RUN_SCHEMA)



def _stack_ranked(runs: Sequence[tuple[int, RankedRows]]) -> tuple[pa.Table, pa.Table]:
    """Several RankedRows as one (judged, n_ret) pair with a `depth` column each."""
    def tag(table: pa.Table, columns: Sequence[str], k: int) -> pa.Table:
        cols = {c: table[c].cast(pa.int64()) if c != "query_id" else table[c] for c in columns}
        return pa.table({**cols, "depth": pa.array(np.full(table.num_rows, k, np.int64))})

    judged = pa.concat_tables([tag(r.judged, ("query_id", "rank", "relevance"), k) for k, r in runs])
    n_ret = pa.concat_tables([tag(r.n_ret, ("query_id", "n"), k) for k, r in runs])
    return judged, n_ret


def per_query_matrix(
    scores: pa.Table, group: str, keys: Sequence[int], measures: Sequence[str], qids: Sequence[str]
) -> dict[str, np.ndarray]:
    """{measure: len(keys) x len(qids) values of `scores` (group, query_id, measure, value)}, NaN where it has
    none (a variant that lacks a judged query); placed by each row's keys, whatever the rows' order."""
    at = [value_codes(scores[group], pa.array(list(keys), scores.schema.field(group).type)),
          value_codes(scores["query_id"], pa.array(list(qids), pa.string())),
          value_codes(scores["measure"], pa.array(list(measures), pa.string()))]
    ok = (at[0] >= 0) & (at[1] >= 0) & (at[2] >= 0)
    out = np.full((len(measures), len(keys), len(qids)), np.nan)
    out[at[2][ok], at[0][ok], at[1][ok]] = np.concatenate(
        [c.to_numpy() for c in scores.column("value").chunks] or [np.zeros(0)])[ok]
    return {m: out[j] for j, m in enumerate(measures)}


def depth_curve(
    first: pa.Table | None,
    reranked: pa.Table | None,
    qrels: pa.Table,
    measures: str | Sequence[str],
    *,
    depths: Sequence[int] | None = None,
    k_max: int | None = None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    confidence: float = 0.95,
    observed: Mapping[int, pa.Table | RankedRows] | None = None,
    judged_k: int = 10,
    pair: RerankPair | None = None,
    stored_qrels: bool = False,
) -> DepthCurve:
    """The measure(s) of R applied to F's top-k for each k, with percentile bootstrap CIs over queries.

    k_max defaults to `rerank_depth(first, reranked)`; the default grid is 0, 5, 10, 20, 30, 50, 100, 200,
    500, 1000, ... below k_max, plus k_max and any observed depth <= k_max. `observed` maps a depth to a
    real run reranked at that depth (scored as is, e.g. R@20 beside a curve derived from R@100), as its rows
    or as RankedRows (then every measure must be one `evaluate_ranked` serves). Queries are
    the judged ones (trec_eval -c); CIs share resamples across depths (paired). `pair`: F and R already
    joined (a RerankPair of these two tables), shared with phantom_hits/judged_summary. `stored_qrels`: the
    qrels come from the store, which refused repeated judgments, so scoring does not check them again.
    """
    check_count("n_boot", n_boot, 1)
    check_seed(seed)
    meas = list(dict.fromkeys(map(measure_name, [measures] if isinstance(measures, str) else measures)))
    judged = measure_name(f"Judged@{judged_k}")
    all_meas = [*meas, judged] if judged not in meas else meas
    observed = dict(observed or {})
    qids = sorted(pc.unique(qrels.column("query_id")).to_pylist())
    with rerank_pair(first, reranked, pair) as p:
        k_max = p.k_max if k_max is None else k_max
        depths = _grid(depths, k_max, observed)
        mats = per_query_matrix(_score_variants(p, depths, qrels, all_meas, stored_qrels), "depth", depths,
                                all_meas, qids)
        tables, ranked = _observed_inputs(p, observed, reranked, max_cutoff(all_meas))
    obs_keys = sorted(observed)
    obs_mats = _score_observed(tables, ranked, obs_keys, qrels, all_meas, qids, stored_qrels)
    points, obs_points = _points(depths, mats, obs_keys, obs_mats, all_meas, n_boot, seed, confidence)
    return DepthCurve(
        measures=tuple(meas),
        judged_measure=judged,
        depths=tuple(depths),
        k_max=int(k_max),
        query_ids=tuple(qids),
        points=tuple(points),
        observed=tuple(obs_points),
        best_depth=tuple(_highest_means(points, meas, depths)),
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )


def _grid(depths: Sequence[int] | None, k_max: int, observed: Mapping[int, object]) -> list[int]:
    """The depths asked for (else the default grid), with depth 0: the first stage every depth is tested against."""
    if depths is None:
        depths = depth_grid(k_max, list(observed))
    depths = sorted(set(map(int, depths)))
    if not depths or depths[0] < 0:
        raise AnalysisError(f"depths must be non-negative and non-empty, got {depths}")
    return sorted({0, *depths})


def _score_variants(p: RerankPair, depths: list[int], qrels: pa.Table, measures: list[str],
                    stored_qrels: bool) -> pa.Table:
    """Every derived depth scored (depth, query_id, measure, value): from their ranks when the measures allow."""
    plan = ranked_plan(measures)
    if plan is None:
        return evaluate(p.variants(depths, max_cutoff(measures)), qrels, measures, group="depth",
                        stored_qrels=stored_qrels)
    judged_rows, n_ret = p.ranked_variants(depths, plan.max_rank, qrels)
    return evaluate_ranked(judged_rows, n_ret, qrels, measures, group="depth", groups=pa.array(depths, pa.int64()),
                           stored_qrels=stored_qrels)


def _observed_inputs(p: RerankPair, observed: Mapping[int, pa.Table | RankedRows], reranked: pa.Table | None,
                     cutoff: int | None) -> tuple[list[pa.Table], list[tuple[int, RankedRows]]]:
    """The observed runs as rows with a depth column (to score with `evaluate`) and as RankedRows."""
    tables, ranked = [], []
    for k in sorted(observed):
        t = observed[k]
        if isinstance(t, RankedRows):
            ranked.append((k, t))
            continue
        check_run(t, f"observed@{k}")
        # R observed at its own depth: with cutoff measures its top `cutoff` (already ranked in the join)
        # scores the same as all of it
        t = p.reranked_top(cutoff) if t is reranked and cutoff is not None else t
        t = t.select(["query_id", "doc_id", "score"])
        tables.append(t.append_column("depth", pa.array(np.full(t.num_rows, k, np.int64))))
    return tables, ranked


def _score_observed(tables: list[pa.Table], ranked: list[tuple[int, RankedRows]], keys: list[int], qrels: pa.Table,
                    measures: list[str], qids: list[str], stored_qrels: bool) -> dict[str, np.ndarray]:
    """{measure: observed depths x queries} of the observed runs ({} when there are none)."""
    parts = []
    if tables:
        parts.append(evaluate(pa.concat_tables(tables), qrels, measures, group="depth", stored_qrels=stored_qrels))
    if ranked:
        if ranked_plan(measures) is None:
            raise AnalysisError(f"observed runs given by their judged ranks cannot be scored on {measures}")
        parts.append(evaluate_ranked(*_stack_ranked(ranked), qrels, measures, group="depth",
                                     groups=pa.array([k for k, _ in ranked], pa.int64()), stored_qrels=stored_qrels))
    return per_query_matrix(pa.concat_tables(parts), "depth", keys, measures, qids) if parts else {}


def _points(depths: list[int], mats: dict[str, np.ndarray], obs_keys: list[int], obs_mats: dict[str, np.ndarray],
            measures: list[str], n_boot: int, seed: int, confidence: float
            ) -> tuple[list[CurvePoint], list[CurvePoint]]:
    """The derived and observed points: means, CIs and the CIs of the differences from depth 0, all from one draw
    of resamples (the same ones each call with this seed would draw): paired CIs."""
    points: list[CurvePoint] = []
    obs_points: list[CurvePoint] = []
    blocks = [(src, keys, sink, m, np.nan_to_num(store[m], nan=0.0))  # a judged query a variant lacks scores 0 (-c)
              for src, keys, store, sink in (("derived", depths, mats, points),
                                             ("observed", obs_keys, obs_mats, obs_points))
              if keys for m in measures]
    boot = bootstrap_means(np.vstack([mat for *_, mat in blocks]), n_boot, seed)
    lo, hi = percentile_interval(boot, confidence)
    # each point's difference from depth 0 of its measure: a difference of means of the same resamples
    starts = np.cumsum([0, *(len(keys) for _, keys, *_ in blocks)])
    first = {m: start + depths.index(0) for (src, _, _, m, _), start in zip(blocks, starts, strict=False)
             if src == "derived" and 0 in depths}
    base = np.array([first.get(m, -1) for _, keys, _, m, _ in blocks for _ in keys])
    d_lo, d_hi = percentile_interval(boot - boot[np.maximum(base, 0)], confidence)
    d_lo, d_hi = np.where(base >= 0, d_lo, np.nan), np.where(base >= 0, d_hi, np.nan)
    for (src, keys, sink, m, mat), row in zip(blocks, starts, strict=False):
        sink.extend(
            CurvePoint(m, int(k), src, float(mat[i].mean()), float(lo[row + i]), float(hi[row + i]),
                       tuple(mat[i].tolist()), float(d_lo[row + i]), float(d_hi[row + i]))
            for i, k in enumerate(keys)
        )
    return points, obs_points


def _highest_means(points: Sequence[CurvePoint], measures: list[str], depths: list[int]) -> list[tuple[str, int]]:
    """(measure, the derived depth with the highest mean; the smallest such depth on ties)."""
    out = []
    for m in measures:
        means = [p.mean for p in points if p.measure == m]
        out.append((m, depths[int(np.argmax(means))]))
    return out
