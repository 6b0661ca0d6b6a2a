"""Rank fusion of runs: RRF, CombSUM, CombMNZ, linear interpolation; vectorised (Arrow group-by, numpy).

Order conventions (trec_eval's, the design's): each input run is read in score-descending order with ties broken
by doc_id descending, and its rank column is ignored; only its top `depth` documents per query take part. The
fused run is ordered the same way and cut to `hits`. pyserini.fusion instead trusts the input rank column and
writes ties in doc_id *ascending* order; for inputs whose rank column follows trec_eval order the fused scores
are identical (tests/test_retrieval_fuse.py checks this against pyserini.fusion), and only the written order of
tied documents differs, which trec_eval re-sorts anyway.

Methods (w_i = weights[i], default 1; a document missing from run i contributes nothing from it):
- "rrf": sum_i w_i / (k + rank_i) (Cormack et al., SIGIR 2009); uses ranks only, so `norm` does not apply.
- "combsum": sum_i w_i * norm(score_i) (Fox & Shaw, TREC-2 1994).
- "combmnz": combsum * (number of runs that retrieved the document within `depth`).
- "interpolation": exactly two runs, w_1 * norm(s_1) + w_2 * norm(s_2); weights default (0.5, 0.5)
  (pyserini's interpolation with alpha = w_1).

Normalisations, per run and per query, over the top-`depth` documents that take part:
- "minmax": (s - min) / (max - min), so the best document scores 1 and the last 0 (all 1 when every score ties,
  as pyserini does); a document just below the depth scores like a missing one.
- "zscore": (s - mean) / std (population std; 0 when every score ties); keeps the spread, may be negative.
- "rank": (n - rank + 1) / n with n the list length: a Borda-style score in (0, 1] that ignores score values.
- None: raw scores (only sensible when the runs' scores share a scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import WorkbenchError
from workbench.model import RunKind
from workbench.retrieval import RetrievalResult, _group_starts, check_columns, order_run, versions
from workbench.retrieval.cache import hash_table

Method = Literal["rrf", "combsum", "combmnz", "interpolation"]
Norm = Literal["minmax", "zscore", "rank"] | None
METHODS = ("rrf", "combsum", "combmnz", "interpolation")
NORMS = ("minmax", "zscore", "rank", None)


def normalise(scores: np.ndarray, ranks: np.ndarray, query_id: pa.Array, norm: Norm) -> np.ndarray:
    """Per-query normalised scores of one run sorted in trec_eval order (see the module docstring)."""
    if norm is None or len(scores) == 0:
        return scores.astype(np.float64, copy=True)
    group, starts = _group_starts(query_id)
    counts = np.diff(np.append(starts, len(scores)))
    if norm == "rank":
        return (counts[group] - ranks + 1) / counts[group]
    if norm == "minmax":
        high = np.maximum.reduceat(scores, starts)[group]
        low = np.minimum.reduceat(scores, starts)[group]
        span = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 1.0)
    if norm == "zscore":
        mean = (np.add.reduceat(scores, starts) / counts)[group]
        std = np.sqrt(np.add.reduceat((scores - mean) ** 2, starts) / counts)[group]
        return np.where(std > 0, (scores - mean) / np.where(std > 0, std, 1.0), 0.0)
    raise WorkbenchError(f"unknown normalisation {norm!r}; expected one of {', '.join(map(str, NORMS))}")


def _check(runs: Sequence[pa.Table], method: str, weights: Sequence[float] | None, k: float) -> list[float]:
    if method not in METHODS:
        raise WorkbenchError(f"unknown fusion method {method!r}; expected one of {', '.join(METHODS)}")
    if len(runs) < 1 or (method == "interpolation" and len(runs) != 2):
        raise WorkbenchError(
            f"{method} needs {'exactly 2 runs' if method == 'interpolation' else 'runs'}, got {len(runs)}"
        )
    for i, run in enumerate(runs):
        check_columns(run, ("query_id", "doc_id", "score"), f"run #{i + 1}")
    if method == "rrf" and k < 0:
        raise WorkbenchError(f"RRF k must be non-negative, got {k}")
    if weights is None:
        return [0.5, 0.5] if method == "interpolation" else [1.0] * len(runs)
    if len(weights) != len(runs):
        raise WorkbenchError(f"{len(weights)} weight(s) given for {len(runs)} runs")
    return [float(w) for w in weights]


def fuse(
    runs: Sequence[pa.Table],
    *,
    method: Method = "rrf",
    k: float = 60,
    norm: Norm = "minmax",
    weights: Sequence[float] | None = None,
    depth: int | None = 1000,
    hits: int | None = 1000,
    names: Sequence[str] | None = None,
) -> RetrievalResult:
    """Fuse `runs` (tables with query_id, doc_id, score) into one run; see the module docstring for the maths.

    Args:
        runs: input runs; their rank columns are ignored (trec_eval order is recomputed).
        method: "rrf", "combsum", "combmnz" or "interpolation".
        k: RRF's constant (60 per Cormack et al.); unused by the other methods.
        norm: score normalisation for the score-based methods; ignored (recorded as None) for RRF.
        weights: one per run (default all 1; interpolation (0.5, 0.5)).
        depth: documents per query taken from each input (None = all).
        hits: documents per query kept in the output (None = all of the union).
        names: labels of the inputs for `params` (default: content hashes of the inputs).

    Raises:
        WorkbenchError: unknown method/normalisation, wrong number of weights, a doc twice in one query of a run.
    """
    w = _check(runs, method, weights, k)
    if norm not in NORMS:
        raise WorkbenchError(f"unknown normalisation {norm!r}; expected one of {', '.join(map(str, NORMS))}")
    effective_norm = None if method == "rrf" else norm
    parts = []
    for i, run in enumerate(runs):
        ordered = order_run(run, hits=depth)  # trec_eval order, rank 1..n, duplicates rejected
        ranks = ordered.column("rank").to_numpy()
        if method == "rrf":
            value = w[i] / (k + ranks.astype(np.float64))
        else:
            scores = ordered.column("score").to_numpy().astype(np.float64)
            value = w[i] * normalise(scores, ranks, ordered.column("query_id").combine_chunks(), effective_norm)
        parts.append(pa.table({"query_id": ordered.column("query_id"), "doc_id": ordered.column("doc_id"),
                               "value": pa.array(value, pa.float64())}))  # fmt: skip
    combined = pa.concat_tables(parts)
    grouped = combined.group_by(["query_id", "doc_id"], use_threads=False).aggregate(
        [("value", "sum"), ("value", "count")]
    )
    score = grouped.column("value_sum")
    if method == "combmnz":
        score = pc.multiply(score, pc.cast(grouped.column("value_count"), pa.float64()))
    fused = pa.table({"query_id": grouped.column("query_id"), "doc_id": grouped.column("doc_id"), "score": score})
    out = order_run(fused, hits=hits)
    params: dict[str, Any] = {
        "method": method,
        "norm": effective_norm,
        "weights": w,
        "depth": depth,
        "hits": hits,
        "inputs": list(names) if names is not None else [hash_table(r, ["query_id", "doc_id", "score"]) for r in runs],
        "input_order": "score desc, doc_id desc (rank column ignored)",
    }
    if method == "rrf":
        params["k"] = k
    return RetrievalResult(run=out, kind=RunKind.HYBRID, params=params, software=versions("pyarrow", "numpy"))
