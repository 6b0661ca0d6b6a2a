"""Helpers for the lake tests; holds no tests. Everything here reads the lake with deltalake and pyarrow only (no
workbench module), as a user of another tool would.

`lake_problems` states the lake's consistency invariant (what "no visible partial commit" means):
  * entries are unique: one `collections` row per name, one `runs` row per (collection, name), one `score_sets`
    row per (collection, run, qrels, measure, semantics, evaluator);
  * every collection entry's qrels/topics/documents partitions hold exactly the counts it declares;
  * every run entry's rows partition holds exactly `n_rows` rows, `n_queries` queries, no (query, doc) twice;
  * every score-set entry has exactly `n_queries` per-query values, and no per-query value is stored twice.
Data without an entry (a push killed between its data and its entry) is allowed: no reader sees it.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TABLES = ("collections", "qrels", "topics", "documents", "runs", "run_rows", "score_sets", "scores")


def table(lake: Path, name: str) -> pa.Table:
    from deltalake import DeltaTable

    return DeltaTable(str(lake / name)).to_pyarrow_table()


def versions(lake: Path) -> dict[str, int]:
    from deltalake import DeltaTable

    return {name: DeltaTable(str(lake / name)).version() for name in TABLES if (lake / name).exists()}


def _dupes(t: pa.Table, keys: list[str]) -> int:
    return t.num_rows - t.group_by(keys).aggregate([]).num_rows


def lake_problems(lake: Path) -> list[str]:
    problems = []
    colls, runs, sets = table(lake, "collections"), table(lake, "runs"), table(lake, "score_sets")
    for t, keys, what in ((colls, ["name"], "collections"), (runs, ["collection", "name"], "runs"),
                          (sets, ["collection", "run_hash", "qrels_hash", "measure", "semantics", "evaluator"],
                           "score_sets")):
        if _dupes(t, keys):
            problems.append(f"{_dupes(t, keys)} duplicate {what} entries")
    parts = {name: table(lake, name) for name in ("qrels", "topics", "documents")}
    for c in colls.to_pylist():
        for name, key, count in (("qrels", "qrels_hash", "n_judgments"), ("topics", "topics_hash", "n_topics"),
                                 ("documents", "docs_hash", "n_docs")):
            if c[key] is None:
                continue
            t = parts[name]
            n = t.filter((pc.field("collection") == c["name"]) & (pc.field(key) == c[key])).num_rows
            if n != c[count]:
                problems.append(f"collection {c['name']}: {n} {name} rows, entry says {c[count]}")
    rows = table(lake, "run_rows")
    for r in runs.to_pylist():
        mine = rows.filter((pc.field("collection") == r["collection"]) & (pc.field("run_hash") == r["run_hash"]))
        if mine.num_rows != r["n_rows"] or len(pc.unique(mine["query_id"])) != r["n_queries"]:
            problems.append(f"run {r['name']}: {mine.num_rows} rows, entry says {r['n_rows']}")
        if _dupes(mine, ["query_id", "doc_id"]):
            problems.append(f"run {r['name']}: rows stored twice")
    scores = table(lake, "scores")
    key = ["collection", "run_hash", "qrels_hash", "measure", "semantics", "evaluator"]
    if _dupes(scores, [*key, "query_id"]):
        problems.append(f"{_dupes(scores, [*key, 'query_id'])} per-query values stored twice")
    counts = {tuple(r[k] for k in key): r["query_id_count"]
              for r in scores.group_by(key).aggregate([("query_id", "count")]).to_pylist()}
    for s in sets.to_pylist():
        if counts.get(tuple(s[k] for k in key), 0) != s["n_queries"]:
            problems.append(f"score set {s['measure']} of {s['run_hash'][:12]} is incomplete")
    return problems


def write_random_run(path: Path, queries: list[str], depth: int, *, seed: int, decimals: int = 1,
                     corpus: int = 5000, skip: float = 0.1) -> Path:
    """A valid TREC run with heavy score ties (`decimals` decimals), numeric doc ids of varying width, a rank
    column that disagrees with the score order, and some queries left out."""
    rng = np.random.default_rng(seed)
    lines = []
    for q in queries:
        if rng.random() < skip:
            continue
        docs = rng.choice(corpus, size=depth, replace=False)
        scores = np.round(rng.normal(10, 1, size=depth), decimals)
        ranks = rng.permutation(depth) + 1
        lines += [f"{q} Q0 {d} {r} {s:.{decimals}f} r{seed}\n" for d, r, s in zip(docs, ranks, scores, strict=True)]
    path.write_text("".join(lines))
    return path


def write_random_qrels(path: Path, queries: list[str], per_query: int, *, seed: int, corpus: int = 5000) -> Path:
    """Graded qrels (-1..3, negative grades included) over the same doc id space as write_random_run."""
    rng = random.Random(seed)
    lines = []
    for q in queries:
        for d in rng.sample(range(corpus), per_query):
            lines.append(f"{q} 0 {d} {rng.choice([-1, 0, 0, 0, 1, 1, 2, 3])}\n")
    path.write_text("".join(lines))
    return path
