"""Benchmarks: define named groups of collections, and rank systems over them on one measure.

A system is a name that stands for one run in each collection: by default a run stands for the system of its own
name (`bm25` in dl20 and `bm25` in scifact are one system); a mapping (`scifact:bm25-flat=bm25`, or a file of
`collection run system` lines) says otherwise. The aggregation rules are analysis.benchmark's (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.analysis import benchmark as agg
from workbench.errors import InputFormatError, NotFoundError, WorkbenchError
from workbench.export.benchmark import BenchmarkBoard
from workbench.export.formats import DEFAULT_BOOTSTRAP, RANK_BY
from workbench.naming import check_name
from workbench.scoring import SEMANTICS, is_summed, named_measures
from workbench.services.evaluate import evaluate_runs, load_evaluation
from workbench.store import (
    BenchmarkInfo,
    Store,
    delete_benchmark,
    get_benchmark,
    get_collection,
    list_runs,
    put_benchmark,
)
from workbench.versions import evaluator_versions

if TYPE_CHECKING:
    import pandas as pd

    from workbench.export.benchmark import BenchmarkBoard
    from workbench.services.evaluate import Evaluation


def add_benchmark(store: Store, name: str, collections: Sequence[str], *, description: str = "",
                  replace: bool = False, source: dict | None = None) -> tuple[BenchmarkInfo, bool]:
    """Define (or, with `replace`, redefine) a benchmark over stored collections, in the order given."""
    check_name(name, "benchmark")
    collections = list(collections)
    if not collections:
        raise WorkbenchError(f"benchmark {name!r} needs at least one collection")
    seen: set[str] = set()
    for c in collections:
        if c in seen:
            raise WorkbenchError(f"benchmark {name!r} names collection {c!r} twice")
        seen.add(c)
    if "\n" in description or "\r" in description:
        raise WorkbenchError("a benchmark's description is one line")
    return put_benchmark(store, name, collections, description=description, source=source or {"cli": True},
                         replace=replace)


def remove_benchmark(store: Store, name: str, *, confirmed: bool) -> None:
    """Forget a benchmark (its collections, runs and scores stay); refused unless `confirmed`, after an unknown
    name has been said."""
    get_benchmark(store, name)
    if not confirmed:
        raise WorkbenchError(f"removing benchmark {name!r} forgets its definition (its collections, runs and scores "
                             "stay); add --yes to confirm")
    delete_benchmark(store, name)


# ---- systems: which run stands for which system in each collection ----------------------------------------------
_ENTRY = re.compile(r"([^:=\s]+):(\S+)=([^=\s]+)")


def parse_system_map(values: Sequence[str]) -> dict[str, dict[str, str]]:
    """`collection:run=system` entries and mapping files (`collection run system` per line, `#` comments) as
    {collection: {run: system}}; a run mapped twice is refused with where it was."""
    out: dict[str, dict[str, str]] = {}
    where: dict[tuple[str, str], str] = {}
    for value in values:
        if os.path.isfile(value) or not _ENTRY.fullmatch(value):
            entries = _read_map_file(Path(value))
        else:
            c, r, s = _ENTRY.fullmatch(value).groups()  # type: ignore[union-attr]  # matched just above
            entries = [(f"--system {value}", c, r, s)]
        for place, collection, run, system in entries:
            check_name(system, "system")
            if (collection, run) in where:
                raise WorkbenchError(f"{place}: run {run!r} of collection {collection!r} is mapped twice (first at "
                                     f"{where[(collection, run)]})")
            where[(collection, run)] = place
            out.setdefault(collection, {})[run] = system
    return out


def _read_map_file(path: Path) -> list[tuple[str, str, str, str]]:
    if not path.is_file():
        raise WorkbenchError(f"--system {str(path)!r}: expected COLLECTION:RUN=SYSTEM or a mapping file "
                             "(lines of `collection run system`), and no such file exists")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, None, f"not UTF-8 text ({exc.reason})") from None
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 3:
            raise InputFormatError(path, i, f"expected `collection run system` (3 fields), got {len(fields)}")
        out.append((f"{path}:{i}", fields[0], fields[1], fields[2]))
    if not out:
        raise InputFormatError(path, None, "no mapping lines (expected `collection run system` per line)")
    return out


def _systems_of(store: Store, info: BenchmarkInfo, mapping: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """{collection: {system: run}} for every stored run of each collection, mapped or under its own name."""
    unknown = sorted(set(mapping) - set(info.collections))
    if unknown:
        raise WorkbenchError(f"--system names collection {unknown[0]!r}, which benchmark {info.name!r} does not have "
                             f"(it has {', '.join(info.collections)})")
    out: dict[str, dict[str, str]] = {}
    for collection in info.collections:
        try:
            runs = [r.name for r in list_runs(store, collection)]
        except NotFoundError:
            raise NotFoundError(f"benchmark {info.name!r} names collection {collection!r}, which the store no "
                                "longer holds", hint="add the collection again, or redefine the benchmark with "
                                "`benchmark add --replace`") from None
        given = mapping.get(collection, {})
        missing = sorted(set(given) - set(runs))
        if missing:
            raise NotFoundError(f"--system maps run {missing[0]!r}, which collection {collection!r} does not have")
        systems: dict[str, str] = {}
        for run in runs:
            system = given.get(run, run)
            if system in systems:
                raise WorkbenchError(f"runs {systems[system]!r} and {run!r} of collection {collection!r} would both be "
                                     f"system {system!r}; map one of them to another name with --system")
            systems[system] = run
        out[collection] = systems
    return out


# ---- the leaderboard ---------------------------------------------------------------------------------------------
def benchmark_leaderboard(store: Store, name: str, measure: str, *, systems: Sequence[str] | None = None,
                          mapping: Sequence[str] | dict[str, dict[str, str]] = (), rank_by: str = "mean",
                          n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0, confidence: float = 0.95,
                          score: bool = True) -> BenchmarkBoard:
    """Systems x the benchmark's collections on `measure`, with the mean over collections, the mean rank, the
    Borda count, each complete system's rank by `rank_by` and its bootstrap interval (analysis.benchmark).

    `systems`: the systems to show (default: every system of any collection); `mapping`: `collection:run=system`
    entries or mapping files (or the parsed {collection: {run: system}}); `score`: score what the store lacks
    (False: read stored scores only, as the dashboard's first view does; runs without them are then missing)."""

    if rank_by not in RANK_BY:
        raise WorkbenchError(f"unknown ranking {rank_by!r}; expected one of {', '.join(RANK_BY)}")
    if not 0 < confidence < 1:
        raise WorkbenchError(f"confidence must be in (0, 1), got {confidence}")
    got = named_measures([measure]) if isinstance(measure, str) else []
    if len(got) != 1:
        raise WorkbenchError(f"a benchmark ranks systems on one measure, got {measure!r}")
    named = got[0]
    if is_summed(named.measure):
        raise WorkbenchError(f"{named.name} is summed over queries, not averaged: rank a benchmark by a mean measure")
    info = get_benchmark(store, name)
    parsed = mapping if isinstance(mapping, dict) else parse_system_map(mapping)
    by_collection = _systems_of(store, info, parsed)
    every = sorted({s for systems_of in by_collection.values() for s in systems_of})
    shown = list(dict.fromkeys(systems)) if systems else every
    unknown = [s for s in shown if s not in every]
    if unknown:
        raise NotFoundError(f"no system named {unknown[0]!r} in benchmark {name!r}",
                            hint=f"systems: {', '.join(every[:20])}{' ...' if len(every) > 20 else ''}")
    evaluations = {c: _evaluate(store, c, named.name, [by_collection[c][s] for s in shown if s in by_collection[c]],
                                score) for c in info.collections}
    hashes = {c: ev.qrels_hash if ev is not None else get_collection(store, c).qrels_hash
              for c, ev in evaluations.items()}
    return _board(info, named.name, named.canonical, shown, by_collection, evaluations, hashes, rank_by,
                  n_resamples, seed, confidence)


def _evaluate(store: Store, collection: str, measure: str, runs: list[str], score: bool) -> Evaluation | None:
    if not runs:
        return None

    if score:
        return evaluate_runs(store, collection, [measure], runs)
    return load_evaluation(store, collection, [measure], runs)


def _board(info: BenchmarkInfo, measure: str, canonical: str, shown: list[str],
           by_collection: dict[str, dict[str, str]], evaluations: dict[str, Evaluation | None],
           hashes: dict[str, str], rank_by: str, n_resamples: int, seed: int, confidence: float) -> BenchmarkBoard:
    import pandas as pd


    collections = list(info.collections)
    values = pd.DataFrame(np.nan, index=shown, columns=collections)
    n_queries = pd.DataFrame(np.nan, index=shown, columns=collections)
    runs = pd.DataFrame(None, index=shown, columns=collections, dtype=object)
    boots, evaluators = [], {}
    for k, c in enumerate(collections):
        ev = evaluations[c]
        boot = np.full((len(shown), n_resamples), np.nan)
        if ev is not None and len(ev.per_query):
            run_of = {run: s for s, run in by_collection[c].items()}
            evaluators.update(ev.evaluators())
            for row in ev.aggregate().itertuples():
                values.at[run_of[row.run], c] = row.value
                n_queries.at[run_of[row.run], c] = row.n_queries
                runs.at[run_of[row.run], c] = row.run
            matrix = ev.per_query.pivot(index="run", columns="query_id", values="value")
            rows = [shown.index(run_of[r]) for r in matrix.index]
            boot[rows] = agg.bootstrap_collection_means(matrix.fillna(0.0).to_numpy(np.float64),
                                                        matrix.notna().to_numpy(), n_resamples, seed + k)
        boots.append(boot)
    present = values.notna().to_numpy()
    a = agg.aggregates(values.to_numpy())
    low, high = agg.rank_intervals(boots, present, rank_by, confidence)
    table = pd.DataFrame({"rank": agg.overall_ranks(a, rank_by), "rank_low": low, "rank_high": high,
                          "mean": a.mean, "mean_rank": a.mean_rank, "borda": a.borda,
                          "n_collections": a.n_collections, "complete": a.complete},
                         index=pd.Index(shown, name="system"))
    order = _order(table, rank_by)
    ranks = pd.DataFrame(a.ranks, index=shown, columns=collections)
    semantics = next((ev.semantics for ev in evaluations.values() if ev is not None), SEMANTICS)
    return BenchmarkBoard(
        benchmark=info.name, measure=measure, canonical=canonical, semantics=semantics,
        collections=tuple(collections), qrels_hashes=hashes, systems=tuple(order),
        values=values.loc[order], n_queries=n_queries.loc[order], ranks=ranks.loc[order], runs=runs.loc[order],
        aggregates=table.loc[order], rank_by=rank_by, n_resamples=n_resamples, seed=seed, confidence=confidence,
        evaluators=evaluators, versions=evaluator_versions(), mapped=_mapped(by_collection, shown),
        description=info.description)


def _order(table: pd.DataFrame, rank_by: str) -> list[str]:
    """Complete systems by rank, then incomplete ones by how many collections they have and the same aggregate;
    ties by name."""
    key = {"mean": "mean", "borda": "borda", "mean-rank": "mean_rank"}[rank_by]
    sign = 1.0 if rank_by == "mean-rank" else -1.0
    frame = table.assign(_incomplete=~table["complete"], _fewer=-table["n_collections"], _key=sign * table[key],
                         _name=table.index)
    return frame.sort_values(["_incomplete", "_fewer", "_key", "_name"], kind="stable").index.tolist()


def _mapped(by_collection: dict[str, dict[str, str]], shown: list[str]) -> dict[str, dict[str, str]]:
    """{collection: {run: system}} for the runs that stand for a system of another name."""
    out = {}
    for c, systems in by_collection.items():
        renamed = {run: s for s, run in systems.items() if run != s and s in shown}
        if renamed:
            out[c] = dict(sorted(renamed.items()))
    return out
