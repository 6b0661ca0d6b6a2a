"""The workbench from Python, for notebooks: open a store, then evaluate, compare, study depth, build leaderboards.

    import workbench as wb

    store = wb.open("workbench.duckdb")
    store.evaluate("dl20", ["nDCG@10", "AP(rel=2)"])            # DataFrame: runs x measures, as `workbench evaluate`
    store.compare("dl20", ["bm25", "tasb"], ["nDCG@10"])          # the Comparison `workbench compare` prints
    store.depth("dl20", "bm25__rankvicuna-7b@100", ["nDCG@10"])   # the DepthStudy `workbench depth` prints
    store.leaderboard("dl20", baselines=["bm25"]).render("latex")
    store.benchmark_leaderboard("dl20-scifact", "nDCG@10").to_frame()   # systems over a benchmark's collections

A thin face over the use cases the CLI and the dashboard call (workbench.services: evaluate, compare, depth,
leaderboard), with the same defaults: no logic of its own, so its numbers are the CLI's. Bad input raises
WorkbenchError (or a subclass) with the CLI's one-line message. `import workbench` does not load this module
until `workbench.open` or `workbench.Workbench` is asked for, so it stays cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.export import score_frame
from workbench.export.formats import DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS
from workbench.scoring.registry import refresh, use_measures
from workbench.services.benchmark import benchmark_leaderboard
from workbench.services.compare import compare_runs
from workbench.services.depth import depth_study
from workbench.services.evaluate import evaluate_runs
from workbench.services.leaderboard import build_leaderboard
from workbench.services.pool import build_pool
from workbench.store import Store, default_db_path, list_collections, list_runs

if TYPE_CHECKING:
    import pandas as pd

    from workbench.export.benchmark import BenchmarkBoard
    from workbench.export.leaderboard import Leaderboard
    from workbench.services.compare import Comparison
    from workbench.services.depth import DepthStudy
    from workbench.services.pool import Pool


def open(path: str | Path | None = None, *, custom_measures: str | Path | Sequence[str | Path] = ()) -> Workbench:
    """The store at `path` (default: $WORKBENCH_DB, else ./workbench.duckdb, as the CLI's --db).

    The file must exist: create a store with the CLI (`workbench collection add ...`), which validates what goes
    in. Opening holds no connection; each call reads the store afresh, so a CLI write shows up on the next call.
    `custom_measures`: Python files of `ir_measures.define`/`define_byquery` measures (the CLI's --custom-measures),
    named in `measures` like any other from then on, in this process; their scores are keyed by the file's
    content, and each call reads an edited file again, so changed measures are recomputed, never served stale.
    """

    store = Store(Path(path) if path is not None else default_db_path())
    if not store.path.is_file():
        raise WorkbenchError(f"{store.path}: no store here",
                             hint="create one with `workbench collection add`, or give the path of an existing store")
    if custom_measures:

        use_measures([custom_measures] if isinstance(custom_measures, str | Path) else list(custom_measures))
    return Workbench(store)


def _measures_afresh(method):
    """Read again a custom measures file edited since the last call, as each call reads the store afresh (between
    calls, never during one: see workbench.scoring.registry.refresh)."""

    @functools.wraps(method)
    def call(*args, **kwargs):
        refresh()
        return method(*args, **kwargs)

    return call


def _names(value: str | Sequence[str] | None, what: str) -> list[str] | None:
    """A list of names; a single string is one name (not its characters)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not all(isinstance(v, str) for v in value):
        raise WorkbenchError(f"{what} must be names (strings), got {list(value)!r}")
    return list(value)


class Workbench:
    """A store's collections, runs and scores. Every method reads the store when called."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"workbench.open({str(self.store.path)!r})"

    @property
    def path(self) -> Path:
        return self.store.path

    def collections(self) -> pd.DataFrame:
        """One row per collection: name, relevance kind, content hashes, sizes (`workbench collection list`)."""
        import pandas as pd


        return pd.DataFrame([c.to_dict() for c in list_collections(self.store)])

    def runs(self, collection: str) -> pd.DataFrame:
        """One row per stored run of `collection`: name, kind, parent, depth, sizes, hash (`workbench runs list`)."""
        import pandas as pd


        runs = pd.DataFrame([{**r.__dict__, "warnings": list(r.warnings)} for r in list_runs(self.store, collection)])
        return runs.astype({"depth": "Int64"}) if len(runs) else runs

    @_measures_afresh
    def evaluate(self, collection: str, measures: str | Sequence[str] | None = None,
                 runs: str | Sequence[str] | None = None, *, per_query: bool = False, qrels: str | None = None,
                 judged_only: bool = False) -> pd.DataFrame:
        """Scores of `runs` (default: all) on `measures` (default: the collection's set), scoring what is not stored.

        Returns the runs x measures means, best first by the first measure (what `workbench evaluate` prints);
        with `per_query`, the long frame run, query_id, measure, value (`--per-query`). `qrels`: a named qrels set
        (`--qrels`); `judged_only`: trec_eval -J (`--judged-only`).
        """

        ev = evaluate_runs(self.store, collection, _names(measures, "measures"), _names(runs, "runs"), qrels=qrels,
                           unjudged="judged-only" if judged_only else "nonrelevant")
        if per_query:
            return score_frame(ev.per_query)
        table = ev.aggregate().pivot(index="run", columns="measure", values="value")[list(ev.measures)]
        return table.sort_values(ev.measures[0], ascending=False, kind="stable").rename_axis(columns=None)

    @_measures_afresh
    def compare(self, collection: str, runs: Sequence[str], measures: str | Sequence[str] | None = None, *,
                test: str = "t", correction: str = "holm", alpha: float = 0.05, seed: int = 0,
                permutations: int = DEFAULT_PERMUTATIONS, tie_tolerance: float = 0.0, top: int = 5,
                qrels: str | None = None, judged_only: bool = False) -> Comparison:
        """Each later run against the first (the baseline): wins/ties/losses, paired tests corrected together.

        Returns what `workbench compare` prints: `.to_frame()` has one row per (run, measure), `.to_dict()` is
        `--json`, `.legend()` states the test's settings.
        """

        return compare_runs(self.store, collection, _names(runs, "runs") or [], _names(measures, "measures"),
                            tie_tolerance=tie_tolerance, top_n=top, test=test, correction=correction, alpha=alpha,
                            seed=seed, n_resamples=permutations, qrels=qrels, judged_only=judged_only)

    @_measures_afresh
    def depth(self, collection: str, reranked: str, measures: str | Sequence[str] = ("nDCG@10",), *,
              first_stage: str | None = None, depths: Sequence[int] | None = None,
              observed: Sequence[str] | None = None, test: str = "t", correction: str = "holm", alpha: float = 0.05,
              seed: int = 0, bootstrap: int = DEFAULT_BOOTSTRAP, permutations: int = DEFAULT_PERMUTATIONS,
              phantom_k: int = 10, qrels: str | None = None, bounds: bool = False,
              gain_share: float | None = None, cost_per_doc: float | None = None,
              cost_unit: str | None = None) -> DepthStudy:
        """How `reranked` would score had it reranked only the first stage's top k, for every k of the grid.

        Returns what `workbench depth` prints: `.table()` (a frame of every depth), `.best()` (the depth
        significantly better than the first stage, or None), `.curve`, `.phantom_hits`, `.to_dict()` (`--json`);
        `qrels`, `bounds`, `gain_share`, `cost_per_doc`, `cost_unit` as the options of the same names
        (`.smallest()`: the cost-aware report, `.bounds`).
        """

        return depth_study(self.store, collection, reranked, _names(measures, "measures") or [],
                           first_stage=first_stage, depths=None if depths is None else list(depths),
                           observed=_names(observed, "observed runs"), n_boot=bootstrap, seed=seed, test=test,
                           correction=correction, alpha=alpha, phantom_k=phantom_k, n_resamples=permutations,
                           qrels=qrels, bounds=bounds, gain_share=gain_share, cost_per_doc=cost_per_doc,
                           cost_unit=cost_unit)

    @_measures_afresh
    def leaderboard(self, collection: str, measures: str | Sequence[str] | None = None,
                    runs: str | Sequence[str] | None = None, *, baselines: str | Sequence[str] = (),
                    test: str = "t", correction: str = "holm", alpha: float = 0.05, ci: bool = False,
                    sort_by: str | None = None, seed: int = 0,
                    permutations: int = DEFAULT_PERMUTATIONS, qrels: str | None = None, judged_only: bool = False,
                    bounds: bool = False) -> Leaderboard:
        """The leaderboard `workbench leaderboard` writes: `.render("latex")` (or markdown, csv, html, json),
        `.values` (runs x measures), `.significance.table` (every test), `.legend()`; `qrels`, `judged_only`,
        `bounds` as `--qrels`, `--judged-only`, `--bounds` (`.bounds`: the values with unjudged documents
        relevant)."""

        if bounds and judged_only:
            raise WorkbenchError("bounds treat unjudged documents as non-relevant and as relevant; judged_only drops "
                                 "them: give one of them")
        names = _names(measures, "measures"), _names(runs, "runs")
        ev = evaluate_runs(self.store, collection, *names, qrels=qrels,
                           unjudged="judged-only" if judged_only else "nonrelevant")
        high = evaluate_runs(self.store, collection, *names, qrels=qrels, unjudged="relevant") if bounds else None
        return build_leaderboard(ev, baselines=_names(baselines, "baselines") or [], test=test,
                                 correction=correction, alpha=alpha, show_ci=ci, seed=seed,
                                 n_resamples=permutations, sort_by=sort_by, unjudged_relevant=high)

    @_measures_afresh
    def benchmark_leaderboard(self, benchmark: str, measure: str, systems: str | Sequence[str] | None = None, *,
                              mapping: str | Sequence[str] | dict[str, dict[str, str]] = (), rank_by: str = "mean",
                              bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> BenchmarkBoard:
        """What `workbench leaderboard --benchmark` writes: systems x the benchmark's collections on one measure,
        with the mean over collections, the mean rank, the Borda count and each complete system's rank and its
        bootstrap interval. `.render("latex")` (or markdown, csv, html, json), `.to_frame()` (one row per system),
        `.aggregates`, `.values` (systems x collections, NaN: missing), `.legend()`; `systems`, `mapping`
        (`collection:run=system` entries, mapping files, or {collection: {run: system}}), `rank_by` ("mean",
        "borda", "mean-rank"), `bootstrap`, `seed` as `-r`, `--system`, `--rank-by`, `--bootstrap`, `--seed`."""

        given = [mapping] if isinstance(mapping, str) else mapping
        return benchmark_leaderboard(self.store, benchmark, measure, systems=_names(systems, "systems"),
                                     mapping=given if isinstance(given, dict) else list(given), rank_by=rank_by,
                                     n_resamples=bootstrap, seed=seed)

    def pool(self, collection: str, depth: int, runs: str | Sequence[str] | None = None, *,
             unjudged_only: bool = False, qrels: str | None = None) -> Pool:
        """The depth-k pool `workbench pool` writes: `.documents` (query_id, doc_id, n_runs, best_position,
        relevance; null: unjudged), `.counts` per query, `.to_dict()` (`--json`)."""

        return build_pool(self.store, collection, _names(runs, "runs"), depth, unjudged_only=unjudged_only,
                          qrels=qrels)
