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

import duckdb
import numpy as np
import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.model import RUN_SCHEMA, RunKind
from workbench.retrieval.base import RetrievalResult, check_columns, group_starts, versions
from workbench.retrieval.cache import hash_table

Method = Literal["rrf", "combsum", "combmnz", "interpolation"]
Norm = Literal["minmax", "zscore", "rank"] | None
METHODS = ("rrf", "combsum", "combmnz", "interpolation")
MAX_WEIGHT = 1e6
"""Weights are relative: a million to one is already one run alone, and sums of bigger ones could overflow."""
NORMS = ("minmax", "zscore", "rank", None)


def normalise(scores: np.ndarray, ranks: np.ndarray, query_id: pa.Array, norm: Norm) -> np.ndarray:
    """Per-query normalised scores of one run sorted in trec_eval order (see the module docstring)."""
    if norm is None or len(scores) == 0:
        return scores.astype(np.float64, copy=True)
    group, starts = group_starts(query_id)
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
        runs: input runs; their rank columns are ignored (trec_eval order is recomputed). A `position` column
            (the store's trec_eval positions, as `top_run_rows` returns them) is taken as the order instead.
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
    for i, run in enumerate(runs):
        check_columns(run, ("query_id", "doc_id", "score"), f"run #{i + 1}")
    con = duckdb.connect()
    try:
        views = []
        for i, run in enumerate(runs):
            positioned = "position" in run.column_names
            cols = ["query_id", "doc_id", "score", *(["position"] if positioned else [])]
            con.register(f"_in{i}", run.select(cols).cast(pa.schema(
                [("query_id", pa.string()), ("doc_id", pa.string()), ("score", pa.float64()),
                 *([("position", pa.int64())] if positioned else [])])))
            views.append((f"_in{i}", positioned))
        out = _fuse_views(con, views, method=method, k=k, norm=norm, weights=weights, depth=depth, hits=hits)
    finally:
        con.close()
    labels = list(names) if names is not None else [hash_table(r, ["query_id", "doc_id", "score"]) for r in runs]
    return result(out, labels, method=method, k=k, norm=norm, weights=weights, depth=depth, hits=hits)


def result(run: pa.Table, names: Sequence[str], *, method: Method = "rrf", k: float = 60, norm: Norm = "minmax",
           weights: Sequence[float] | None = None, depth: int | None = 1000, hits: int | None = 1000,
           ) -> RetrievalResult:
    """The RetrievalResult of a fused run: what was fused, and how (`params`), with the software versions."""
    w = _weights(method, len(names), weights)
    params: dict[str, Any] = {
        "method": method,
        "norm": None if method == "rrf" else norm,
        "weights": w,
        "depth": depth,
        "hits": hits,
        "inputs": list(names),
        "input_order": "score desc, doc_id desc (rank column ignored)",
    }
    if method == "rrf":
        params["k"] = k
    return RetrievalResult(run=run, kind=RunKind.HYBRID, params=params,
                           software=versions("duckdb", "pyarrow", "numpy"))


def _fuse_views(
    con: duckdb.DuckDBPyConnection,
    inputs: Sequence[tuple[str, bool]],
    *,
    method: Method = "rrf",
    k: float = 60,
    norm: Norm = "minmax",
    weights: Sequence[float] | None = None,
    depth: int | None = 1000,
    hits: int | None = 1000,
) -> pa.Table:
    """`fuse` over relations of `con` (fuse's own in-memory connection): each input is (view name, has a trusted
    `position` column), with query_id, doc_id, score. The fused run in RUN_SCHEMA, trec_eval order, cut at `hits`.

    Everything set-shaped runs in DuckDB; only z-score normalisation reads its input back, to keep numpy's sums.
    Per-document values are summed in input order (a CASE chain, not sum()): the sums pyserini's loop gets, bit for bit.
    """
    w = _weights(method, len(inputs), weights)
    _check_options(method, k, norm)
    effective_norm = None if method == "rrf" else norm
    parts = []
    for i, (view, positioned) in enumerate(inputs):
        if not positioned:  # a stored run is unique per query by construction
            ((repeats,),) = con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {view} GROUP BY query_id, doc_id HAVING count(*) > 1)"
            ).fetchall()
            if repeats:
                raise WorkbenchError(f"a run lists the same doc_id twice in one query ({repeats} repeats)")
        rank = "position" if positioned else \
            "row_number() OVER (PARTITION BY query_id ORDER BY score DESC, doc_id DESC)"
        keep = "TRUE" if depth is None else f"rank <= {int(depth)}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW _cut{i} AS SELECT * FROM "
                    f"(SELECT query_id, doc_id, score, {rank} AS rank FROM {view}) WHERE {keep}")
        value = _value_sql(con, i, method, effective_norm, w[i], k)
        parts.append(f"x{i} AS (SELECT query_id, doc_id, {value} AS v{i} FROM _v{i})")
    # a document's values side by side, one column per input: full outer joins on (query_id, doc_id), cheaper here
    # than grouping the union of the inputs
    joined = "x0"
    for i in range(1, len(parts)):
        joined = (f"(SELECT coalesce(a.query_id, b.query_id) AS query_id, coalesce(a.doc_id, b.doc_id) AS doc_id, "
                  f"{', '.join(f'v{j}' for j in range(i + 1))} FROM {joined} a FULL OUTER JOIN x{i} b "
                  f"ON a.query_id = b.query_id AND a.doc_id = b.doc_id)")
    total = "0.0::DOUBLE"
    for i in range(len(parts)):
        total = f"CASE WHEN v{i} IS NULL THEN {total} ELSE ({total}) + v{i} END"
    n = " + ".join(f"CAST(v{i} IS NOT NULL AS DOUBLE)" for i in range(len(parts)))
    score = f"({total}) * ({n})" if method == "combmnz" else total
    keep = "TRUE" if hits is None else f"rank <= {int(hits)}"
    fused = f"""WITH {", ".join(parts)},
            scored AS (SELECT query_id, doc_id, {score} AS score FROM {joined})
            SELECT query_id, doc_id, score,
                   row_number() OVER (PARTITION BY query_id ORDER BY score DESC, doc_id DESC) AS rank
            FROM scored QUALIFY {keep}"""
    return con.sql(f"{fused} ORDER BY query_id, rank").to_arrow_table().cast(RUN_SCHEMA)


def _value_sql(con: duckdb.DuckDBPyConnection, i: int, method: str, norm: Norm, weight: float, k: float) -> str:
    """View _v{i} over input i's cut rows, and the SQL of its contribution: the same float operations, in the
    same order, as `normalise` and RRF's w / (k + rank) in numpy."""
    w = _double(weight)
    if norm == "zscore":  # numpy's reduceat sums, not DuckDB's window sums
        ordered = con.sql(f"SELECT query_id, doc_id, score, rank FROM _cut{i} ORDER BY query_id, rank").to_arrow_table()
        values = normalise(ordered.column("score").to_numpy(), ordered.column("rank").to_numpy(),
                           ordered.column("query_id").combine_chunks(), "zscore")
        con.register(f"_v{i}", pa.table({"query_id": ordered.column("query_id"), "doc_id": ordered.column("doc_id"),
                                         "z": pa.array(values, pa.float64())}))
        return f"{w} * z"
    stats = ("count(*) OVER q AS n, min(score) OVER q AS low, max(score) OVER q AS high"
             if norm in ("minmax", "rank") and method != "rrf" else "NULL AS n, NULL AS low, NULL AS high")
    con.execute(f"CREATE OR REPLACE TEMP VIEW _v{i} AS SELECT *, {stats} FROM _cut{i} "
                "WINDOW q AS (PARTITION BY query_id)")
    if method == "rrf":
        return f"{w} / ({_double(k)} + CAST(rank AS DOUBLE))"
    if norm is None:
        return f"{w} * score"
    if norm == "rank":
        return f"{w} * (CAST(n - rank + 1 AS DOUBLE) / CAST(n AS DOUBLE))"
    return f"{w} * (CASE WHEN high - low > 0 THEN (score - low) / (high - low) ELSE 1.0 END)"


def _double(x: float) -> str:
    """A float as a DuckDB DOUBLE literal that parses back to the same bits (a bare 0.1 would be a DECIMAL)."""
    return f"'{float(x)!r}'::DOUBLE"


def _weights(method: str, n: int, weights: Sequence[float] | None) -> list[float]:
    if method not in METHODS:
        raise WorkbenchError(f"unknown fusion method {method!r}; expected one of {', '.join(METHODS)}")
    if n < 1 or (method == "interpolation" and n != 2):
        raise WorkbenchError(f"{method} needs {'exactly 2 runs' if method == 'interpolation' else 'runs'}, got {n}")
    if weights is None:
        return [0.5, 0.5] if method == "interpolation" else [1.0] * n
    if len(weights) != n:
        raise WorkbenchError(f"{len(weights)} weight(s) given for {n} runs")
    if not all(abs(float(x)) <= MAX_WEIGHT for x in weights):  # NaN and inf fail too
        raise WorkbenchError(f"weights must be numbers from -{MAX_WEIGHT:g} to {MAX_WEIGHT:g}, got {list(weights)}")
    return [float(x) for x in weights]


def _check_options(method: str, k: float, norm: object) -> None:
    if method == "rrf" and not 0 <= k < float("inf"):  # NaN fails too
        raise WorkbenchError(f"RRF k must be a finite number >= 0, got {k}")
    if norm not in NORMS:
        raise WorkbenchError(f"unknown normalisation {norm!r}; expected one of {', '.join(map(str, NORMS))}")
