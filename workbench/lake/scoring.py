"""Score the runs of a lake on an engine (in process or on Ray), commit their per-query values to the lake.

The work is cut into units that each read their own rows from the lake where the workers are: a big run is
split into query blocks (ranges of the collection's judged query ids, so a block's rows are a contiguous slice of
the run's partition, which is stored in query order), small runs are packed together until a unit holds about
`block_rows` rows. Each unit scores every run part on one Arrow table with the driver's scorer registry (shared
once, with the bytes of the user's measures files), which `workbench.scoring.evaluate` calls in the local engine
too, so the values are the same bit for bit. The qrels are shared once per
query block (Ray's object store), not sent with every unit; the run rows never pass through the driver.

Per-query values come back to the driver, are held until every unit of their run is in, and are committed to the
lake in batches (values first, then the score-set entries that make them visible): a job killed halfway leaves
complete score sets and nothing half-visible, and running it again scores only what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from workbench.engine import Engine
from workbench.errors import NotFoundError, WorkbenchError
from workbench.lake.tables import Lake, process_tag
from workbench.lake.transfer import checked_entry, commit_scores, pull, refuse_pull_conflicts
from workbench.model import QRELS_SCHEMA
from workbench.scoring import SEMANTICS, default_measures, evaluator_id, measure_name, parse_measure, parse_measures
from workbench.scoring.registry import current
from workbench.services.evaluate import Evaluation
from workbench.store.exchange import SCORE_KEY

if TYPE_CHECKING:
    from workbench.services.evaluate import Evaluation
    from workbench.store import Store

DEFAULT_BLOCK_ROWS = 2_000_000
"""Run rows per unit of work: a 7M-line run is 4 units; 24 TREC DL runs (1.3M rows) are one. Big enough that a
unit's fixed costs (a task, opening the table, indexing its qrels) are small beside scoring it."""
MIN_UNIT_ROWS = 100_000
"""A unit is made smaller than `block_rows` so that every CPU of a cluster gets about two units, but not below
this: tinier units cost more in task overhead than they save in waiting."""
COMMIT_ROWS = 2_000_000
"""Per-query values held by the driver before they are committed to the lake (about 100 MB): bounds the driver's
memory whatever the number of runs, at one commit per ~2M values."""

Report = Callable[[str], None]


@dataclass(frozen=True)
class LakeEvaluation:
    """The scores (as the local engine's `Evaluation`), plus where and how they were computed."""

    evaluation: Evaluation
    lake: str
    engine: dict
    pulled: dict | None = None


def evaluate_lake(uri: str, collection: str, measures: Sequence[str] | None = None,
                  runs: Sequence[str] | None = None, *, engine: Engine,
                  storage_options: dict[str, str] | None = None, block_rows: int = DEFAULT_BLOCK_ROWS,
                  pull_into: Store | None = None, report: Report | None = None) -> LakeEvaluation:
    """Score the lake's runs of `collection` (all, or `runs`) on `measures` (default: the collection's set) with
    `engine`, commit the new per-query values to the lake, and return every asked-for value the lake holds.
    `pull_into`: then bring the collection, the runs and their scores into that store."""

    if block_rows < 1:
        raise WorkbenchError(f"block_rows must be a positive number of rows, got {block_rows}")
    lake = Lake(uri, storage_options)
    if not lake.exists():
        raise WorkbenchError(f"no workbench lake at {lake.uri}", hint="push runs there with `workbench lake push`")
    entry = _collection(lake, collection)
    names, entries = _runs(lake, collection, runs)
    if pull_into is not None:  # a pull that would be refused is refused before any scoring
        refuse_pull_conflicts(pull_into, [entry], {collection: [entries[n] for n in names]}, replace=False)
    measure_names = _measures(measures, entry["relevance_kind"])
    evaluators = {m: evaluator_id(parse_measure(m)) for m in measure_names}
    qrels_hash = entry["qrels_hash"]
    done = _done(lake, collection, qrels_hash, SEMANTICS)
    todo: dict[str, list[str]] = {}
    for name in names:
        run_hash = entries[name]["run_hash"]
        missing = [m for m in measure_names if (run_hash, m, evaluators[m]) not in done]
        if missing and run_hash not in todo:
            todo[run_hash] = missing
    computed = sum(len(ms) for ms in todo.values())
    units = 0
    if todo:
        n_rows = {e["run_hash"]: e["n_rows"] for e in entries.values()}
        total = sum(n_rows[h] for h in todo)
        if engine.parallelism() > 1:  # about two units per CPU when the runs are big enough
            block_rows = min(block_rows, max(MIN_UNIT_ROWS, math.ceil(total / (2 * engine.parallelism()))))
        units = _score(lake, engine, collection, qrels_hash, todo, n_rows, evaluators, block_rows, report)
    pulled = None
    if pull_into is not None:
        pulled = pull(pull_into, uri, collections=[collection], runs=names, storage_options=storage_options,
                      report=report).to_dict()
    evaluation = _evaluation(lake, entry, names, entries, measure_names, evaluators, SEMANTICS, computed)
    return LakeEvaluation(evaluation, lake.uri, {**engine.describe(), "units": units}, pulled)


def _collection(lake: Lake, collection: str) -> dict:
    entries = {r["name"]: r for r in lake.read("collections").to_pylist()}
    if collection not in entries:
        raise NotFoundError(f"no collection named {collection!r} in the lake",
                            hint=f"it has: {', '.join(sorted(entries)[:12]) or 'none'}")
    return entries[collection]


def _runs(lake: Lake, collection: str, runs: Sequence[str] | None) -> tuple[list[str], dict[str, dict]]:
    entries = {r["name"]: checked_entry(lake, r)
               for r in lake.read("runs", where=[("collection", "=", collection)]).to_pylist()}
    names = list(dict.fromkeys(runs)) if runs else sorted(entries)
    if not names:
        raise WorkbenchError(f"collection {collection!r} has no runs in the lake yet; push some with "
                             "`workbench lake push`")
    missing = [n for n in names if n not in entries]
    if missing:
        raise NotFoundError(f"no run named {missing[0]!r} in the lake's collection {collection!r}",
                            hint=f"it has: {', '.join(sorted(entries)[:12])}")
    return names, entries


def _measures(measures: Sequence[str] | None, relevance_kind: str) -> list[str]:
    chosen = parse_measures(list(measures)) if measures else default_measures(relevance_kind)
    return list(dict.fromkeys(measure_name(m) for m in chosen))


def _done(lake: Lake, collection: str, qrels_hash: str, semantics: str) -> set[tuple[str, str, str]]:
    sets = lake.read("score_sets", where=[("collection", "=", collection)],
                     columns=["run_hash", "measure", "evaluator"],
                     row_filter=(ds.field("qrels_hash") == qrels_hash) & (ds.field("semantics") == semantics))
    return {(r["run_hash"], r["measure"], r["evaluator"]) for r in sets.to_pylist()}


# ------------------------------------------------------------------------------------------------- the work
def plan_units(todo: dict[str, list[str]], n_rows: dict[str, int], qids: list[str],
               block_rows: int) -> list[tuple[tuple[str, ...], list[dict], int]]:
    """Units as (measures, parts, blocks): `parts` are {run_hash, lo, hi} (a query-id range, None = open) of the
    runs needing `measures`; `blocks` is how many query blocks the range belongs to (1: whole runs, packed).

    A run of more than `block_rows` rows becomes ceil(rows / block_rows) units over equal shares of the judged
    queries; smaller runs needing the same measures are packed into units of about `block_rows` rows.
    """
    units: list[tuple[tuple[str, ...], list[dict], int]] = []
    by_measures: dict[tuple[str, ...], list[str]] = {}
    for run_hash, needed in todo.items():
        by_measures.setdefault(tuple(needed), []).append(run_hash)
    for ms, hashes in by_measures.items():
        pack: list[dict] = []
        packed = 0
        for run_hash in hashes:
            rows = n_rows[run_hash]
            blocks = min(max(1, math.ceil(rows / block_rows)), max(1, len(qids)))
            if blocks > 1:
                bounds = [None, *(qids[i * len(qids) // blocks] for i in range(1, blocks)), None]
                units += [(ms, [{"run_hash": run_hash, "lo": bounds[i], "hi": bounds[i + 1]}], blocks)
                          for i in range(blocks)]
                continue
            pack.append({"run_hash": run_hash, "lo": None, "hi": None})
            packed += rows
            if packed >= block_rows:
                units.append((ms, pack, 1))
                pack, packed = [], 0
        if pack:
            units.append((ms, pack, 1))
    return units


def _score(lake: Lake, engine: Engine, collection: str, qrels_hash: str, todo: dict[str, list[str]],
           n_rows: dict[str, int], evaluators: dict[str, str], block_rows: int, report: Report | None) -> int:
    """Score `todo` on the engine and commit it; returns how many units the work was cut into."""
    qrels = lake.read("qrels", where=[("collection", "=", collection), ("qrels_hash", "=", qrels_hash)],
                      columns=["query_id", "doc_id", "relevance"])
    qrels = qrels.sort_by([("query_id", "ascending"), ("doc_id", "ascending")]).cast(QRELS_SCHEMA)
    planned = plan_units(todo, n_rows, pc.unique(qrels["query_id"]).to_pylist(), block_rows)
    units = _units(lake, engine, collection, qrels, planned)
    expected: dict[str, int] = {}
    for _, parts, _ in planned:
        for part in parts:
            expected[part["run_hash"]] = expected.get(part["run_hash"], 0) + 1
    results = engine.map(score_unit, units, label=f"scoring {collection}")
    _commit_complete_runs(lake, collection, qrels_hash, results, expected, evaluators, len(units), report)
    return len(units)


def _units(lake: Lake, engine: Engine, collection: str, qrels: pa.Table, planned: list) -> list[dict]:
    """The planned units as the workers get them: the lake's table version, the scorer registry and the qrels
    (each block's slice) shared once through the engine."""

    version = lake.table("run_rows").version()
    scorers = engine.share(current())  # a worker scores with this registry: the user's measures files travel as bytes
    shared: dict[tuple, Any] = {}

    def qrels_of(blocks: int, lo: str | None, hi: str | None) -> Any:
        key = (blocks, lo, hi)
        if key not in shared:
            shared[key] = engine.share(qrels if blocks == 1 else qrels.filter(_range(pc.field("query_id"), lo, hi)))
        return shared[key]

    return [{"lake": lake.uri, "options": lake.storage_options, "collection": collection, "version": version,
             "measures": list(ms), "parts": parts, "scorers": scorers,
             "qrels": qrels_of(blocks, parts[0]["lo"], parts[0]["hi"]) if blocks > 1 else qrels_of(1, None, None)}
            for ms, parts, blocks in planned]


def _commit_complete_runs(lake: Lake, collection: str, qrels_hash: str, results: Iterable[pa.Table],
                          expected: dict[str, int], evaluators: dict[str, str], n_units: int,
                          report: Report | None) -> None:
    """Commit the units' values run by run, once every part of a run has arrived (about COMMIT_ROWS at a time):
    a run is never committed in part."""
    pending: dict[str, list[pa.Table]] = {}
    ready: list[pa.Table] = []
    held = 0
    for i, values in enumerate(results, start=1):
        _check_evaluators(values, evaluators)
        values = _compact(values)
        for run_hash in pc.unique(values["run_hash"]).to_pylist():
            pending.setdefault(run_hash, []).append(values.filter(pc.field("run_hash") == run_hash))
        for run_hash in [h for h, parts in pending.items() if len(parts) == expected[h]]:
            ready += pending.pop(run_hash)
            held = sum(t.num_rows for t in ready)
        if report:
            report(f"scored {i} of {n_units} units")
        if held >= COMMIT_ROWS:
            _commit(lake, collection, qrels_hash, ready)
            ready, held = [], 0
    if pending:  # a unit without rows for its run would leave it here: never commit a partial set
        raise WorkbenchError(f"scoring left {len(pending)} run(s) incomplete; nothing of them was committed")
    if ready:
        _commit(lake, collection, qrels_hash, ready)


def _compact(values: pa.Table) -> pa.Table:
    """The repeated strings of per-query values (run hash, measure, evaluator) as dictionaries: a value held by
    the driver until its run is complete costs ~30 bytes instead of ~150 (64-character run hashes)."""
    for name in ("run_hash", "measure", "evaluator"):
        values = values.set_column(values.schema.get_field_index(name), name, pc.dictionary_encode(values[name]))
    return values


def _expand(values: pa.Table) -> pa.Table:
    return values.cast(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                                  for f in values.schema]))


def _range(field, lo: str | None, hi: str | None):
    expr = None
    if lo is not None:
        expr = field >= lo
    if hi is not None:
        expr = (field < hi) if expr is None else expr & (field < hi)
    return expr


def score_unit(unit: dict, get: Callable[[Any], Any]) -> pa.Table:
    """Score one unit where it runs: each part's rows read from the lake (the table version the job planned on),
    scored by the driver's scorer registry (`workbench.scoring.registry.Scorers`: the built-ins, the user's
    measures files, plugins). Returns run_hash, query_id, measure, value, evaluator (the evaluator computed here:
    the driver checks every worker scores with the versions it does)."""
    lake = Lake(unit["lake"], unit["options"])
    table = lake.table("run_rows", version=unit["version"])
    qrels = get(unit["qrels"])
    scorers = get(unit["scorers"])
    measures = unit["measures"]
    ids = {m: scorers.evaluator_id(m) for m in measures}
    out = []
    for part in unit["parts"]:
        rows = lake.read("run_rows", dt=table, columns=["query_id", "doc_id", "score"],
                         where=[("collection", "=", unit["collection"]), ("run_hash", "=", part["run_hash"])],
                         row_filter=_range(ds.field("query_id"), part["lo"], part["hi"]))
        values = scorers.evaluate(rows, qrels, measures, stored_qrels=True)
        n = values.num_rows
        out.append(pa.table({
            "run_hash": pa.array([part["run_hash"]] * n, pa.string()), "query_id": values["query_id"],
            "measure": values["measure"], "value": values["value"],
            "evaluator": pa.array([ids[m] for m in values["measure"].to_pylist()], pa.string())}))
    return pa.concat_tables(out)


def _check_evaluators(values: pa.Table, evaluators: dict[str, str]) -> None:
    found = values.group_by(["measure", "evaluator"]).aggregate([]).to_pylist()
    for row in found:
        if evaluators.get(row["measure"]) != row["evaluator"]:
            raise WorkbenchError(f"a worker scored {row['measure']} with {row['evaluator']!r}, this machine with "
                                 f"{evaluators.get(row['measure'])!r}",
                                 hint="install the same workbench and ir-measures versions on every node")


def _commit(lake: Lake, collection: str, qrels_hash: str, parts: list[pa.Table]) -> None:
    values = pa.concat_tables([_expand(p) for p in parts])
    n = values.num_rows
    values = values.append_column("qrels_hash", pa.array([qrels_hash] * n, pa.string())) \
                   .append_column("semantics", pa.array([SEMANTICS] * n, pa.string()))
    sets = values.group_by(["run_hash", "measure", "evaluator"]).aggregate(
        [("query_id", "count"), ("value", "mean"), ("value", "sum")])
    m = sets.num_rows
    sets = pa.table({"run_hash": sets["run_hash"], "qrels_hash": pa.array([qrels_hash] * m, pa.string()),
                     "measure": sets["measure"], "semantics": pa.array([SEMANTICS] * m, pa.string()),
                     "evaluator": sets["evaluator"], "n_queries": sets["query_id_count"],
                     "mean": sets["value_mean"], "total": sets["value_sum"]})
    commit_scores(lake, collection, sets, values.select([*SCORE_KEY, "query_id", "value"]),
                  scored_by=f"evaluate {process_tag()}")


# ------------------------------------------------------------------------------------------------ the answer
def _evaluation(lake: Lake, entry: dict, names: list[str], entries: dict[str, dict], measure_names: list[str],
                evaluators: dict[str, str], semantics: str, computed: int) -> Evaluation:
    """Every asked-for per-query value the lake holds, in the local engine's `Evaluation` (same columns, same
    order: run, measure, query_id), so the CLI prints both the same way."""
    import pandas as pd


    collection = entry["name"]
    hashes = sorted({entries[n]["run_hash"] for n in names})
    sets = lake.read("score_sets", where=[("collection", "=", collection)],
                     columns=["run_hash", "measure", "evaluator"],
                     row_filter=(ds.field("qrels_hash") == entry["qrels_hash"]) & (ds.field("semantics") == semantics)
                     & ds.field("run_hash").isin(pa.array(hashes, pa.string())))
    wanted = {(h, m, e) for h, m, e in zip(sets["run_hash"].to_pylist(), sets["measure"].to_pylist(),
                                           sets["evaluator"].to_pylist(), strict=True)
              if evaluators.get(m) == e}
    frames = []
    if wanted:
        values = lake.read("scores", where=[("collection", "=", collection), ("run_hash", "in", hashes)],
                           columns=["run_hash", "measure", "evaluator", "query_id", "value"],
                           row_filter=(ds.field("qrels_hash") == entry["qrels_hash"])
                           & (ds.field("semantics") == semantics))
        keys = pa.table({"run_hash": [k[0] for k in wanted], "measure": [k[1] for k in wanted],
                         "evaluator": [k[2] for k in wanted]})
        values = values.join(keys, keys=["run_hash", "measure", "evaluator"], join_type="inner")
        runs_of = pa.table({"run_hash": [entries[n]["run_hash"] for n in names], "run": names})
        frames.append(values.join(runs_of, keys="run_hash", join_type="inner"))
    if frames:
        table = pa.concat_tables(frames)
        table = table.append_column("semantics", pa.array([semantics] * table.num_rows, pa.string()))
        table = table.select(["run", "query_id", "measure", "value", "evaluator", "semantics"]).sort_by(
            [("run", "ascending"), ("measure", "ascending"), ("query_id", "ascending")])
        per_query = table.to_pandas()
    else:
        per_query = pd.DataFrame(columns=["run", "query_id", "measure", "value", "evaluator", "semantics"])
    return Evaluation(collection, entry["qrels_hash"], semantics, tuple(measure_names), tuple(names),
                      per_query.reset_index(drop=True), computed)
