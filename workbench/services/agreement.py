"""`collection qrels agree`: how far two qrels of a collection agree, on documents and on system rankings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.agreement import Estimate, kappa_estimate, ranking_estimates
from workbench.errors import WorkbenchError
from workbench.services.evaluate import evaluate_runs, resolve_named
from workbench.store import DEFAULT_QRELS as DEFAULT
from workbench.store import Store, get_collection, get_qrels, get_qrels_set


@dataclass(frozen=True)
class Agreement:
    collection: str
    qrels: tuple[str, str]
    qrels_hashes: tuple[str, str]
    n_pairs: int  # (query, document) pairs both sets judge (grade >= 0)
    n_pair_queries: int
    kappa: Estimate  # on the grades as categories
    kappa_binary: Estimate  # relevant (grade >= 1) or not
    measure: str
    runs: tuple[str, ...]
    means: dict[str, tuple[float, float]]  # run -> (mean under A, mean under B)
    tau: Estimate
    tau_ap: Estimate  # B's ranking against A's
    n_resamples: int
    seed: int

    def to_dict(self) -> dict:
        return {"collection": self.collection, "qrels": list(self.qrels), "qrels_hashes": list(self.qrels_hashes),
                "n_pairs": self.n_pairs, "n_pair_queries": self.n_pair_queries, "kappa": self.kappa.to_dict(),
                "kappa_binary": self.kappa_binary.to_dict(), "measure": self.measure, "runs": list(self.runs),
                "means": {r: {"a": a, "b": b} for r, (a, b) in self.means.items()}, "tau": self.tau.to_dict(),
                "tau_ap": self.tau_ap.to_dict(), "bootstrap_samples": self.n_resamples, "seed": self.seed,
                "confidence": 0.95}


def _judgments(store: Store, collection: str, name: str) -> tuple[str, pa.Table]:
    if name == DEFAULT:
        return get_collection(store, collection).qrels_hash, get_qrels(store, collection)
    info, table = get_qrels_set(store, collection, name)
    return info.qrels_hash, table


def _tables(pairs: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Per-query contingency tables (Q, K, K) over the grades, and the same binarised at grade >= 1."""
    grades = np.unique(np.concatenate([pairs["relevance_a"].to_numpy(), pairs["relevance_b"].to_numpy()]))
    qids = pc.dictionary_encode(pairs["query_id"]).combine_chunks()
    q = qids.indices.to_numpy()
    n_q = len(qids.dictionary)
    a = np.searchsorted(grades, pairs["relevance_a"].to_numpy())
    b = np.searchsorted(grades, pairs["relevance_b"].to_numpy())
    graded = np.zeros((n_q, len(grades), len(grades)), np.int64)
    np.add.at(graded, (q, a, b), 1)
    binary = np.zeros((n_q, 2, 2), np.int64)
    np.add.at(binary, (q, (pairs["relevance_a"].to_numpy() >= 1).astype(int),
                       (pairs["relevance_b"].to_numpy() >= 1).astype(int)), 1)
    return graded, binary


def qrels_agreement(store: Store, collection: str, a: str, b: str, *, measure: str | None = None,
                    runs: Sequence[str] | None = None, n_resamples: int = 10_000, seed: int = 0) -> Agreement:
    """Kappa on the pairs both qrels judge; Kendall's tau and tau-AP between the rankings of the runs (all of the
    collection's by default) by `measure` (default: the collection's first) under each. Scores the runs under
    both qrels where the store does not know them yet."""

    if a == b:
        raise WorkbenchError(f"give two different qrels to compare, got {a!r} twice")
    hash_a, qa = _judgments(store, collection, a)
    hash_b, qb = _judgments(store, collection, b)
    judged = [t.filter(pc.greater_equal(t["relevance"], 0)) for t in (qa, qb)]
    pairs = judged[0].rename_columns(["query_id", "doc_id", "relevance_a"]).join(
        judged[1].rename_columns(["query_id", "doc_id", "relevance_b"]), keys=["query_id", "doc_id"],
        join_type="inner", use_threads=False)
    graded, binary = _tables(pairs) if pairs.num_rows else (np.zeros((0, 1, 1)), np.zeros((0, 2, 2)))
    kappa = kappa_estimate(graded, n_resamples, seed)
    kappa_binary = kappa_estimate(binary, n_resamples, seed)

    resolved = resolve_named(store, collection, [measure] if measure else None)
    if measure and len(resolved) > 1:  # "P.5,10" or "all_trec" name several: ranking by the first would hide it
        raise WorkbenchError(f"agreement ranks the runs by one measure; {measure!r} names {len(resolved)} "
                             f"({', '.join(m.name for m in resolved[:4])}{', ...' if len(resolved) > 4 else ''})")
    named = resolved[0]
    runs = list(dict.fromkeys(runs)) if runs else None  # a run named twice is one system of the ranking
    ev_a = evaluate_runs(store, collection, [named.name], runs, qrels=a)
    ev_b = evaluate_runs(store, collection, [named.name], runs, qrels=b)
    names = tuple(ev_a.runs)
    frames = [ev.per_query.pivot(index="run", columns="query_id", values="value") for ev in (ev_a, ev_b)]
    queries = sorted(set(frames[0].columns) | set(frames[1].columns))
    mats = [f.reindex(index=list(names), columns=queries) for f in frames]
    masks = [np.asarray([q in f.columns for q in queries], np.float64) for f in frames]
    values = [m.fillna(0.0).to_numpy(np.float64) for m in mats]
    means = {r: (float(x), float(y)) for r, x, y in zip(names, *(v @ m / m.sum() for v, m in zip(values, masks,
                                                                                                strict=True)),
                                                         strict=True)}
    if len(names) < 2:
        tau = tau_ap = Estimate(None, None, None)
    else:
        tau, tau_ap = ranking_estimates(values[0], masks[0], values[1], masks[1], n_resamples, seed)
    return Agreement(collection, (a, b), (hash_a, hash_b), pairs.num_rows,
                     pc.count_distinct(pairs["query_id"]).as_py(),
                     kappa, kappa_binary, named.name, names, means, tau, tau_ap, n_resamples, seed)
