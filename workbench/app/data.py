"""Cached reads and library calls for the dashboard.

Every function takes `(db, token, ...)`: `db` is the store path and `token` its `Store.version_token()`, so a
write by anyone (the CLI, another tab) changes the key and the next rerun reads fresh data. The slow views computed
from run rows and qrels (depth study, cutoff curves, fusion) take an `InputsKey` instead: the content they are
computed from, so a write that leaves their inputs alone (a CLI ingest of another run) does not compute them again.
Each call opens one short-lived read-only connection for all its reads (it retries on lock) and holds nothing
across reruns. No analysis happens here: these are thin wrappers over workbench.store / evaluate / leaderboard /
analysis / retrieval.

Reads of scores take `qrels` (a named qrels set of the collection, None for its own) and `unjudged` (how unjudged
documents were treated, `services.evaluate.UNJUDGED`: "judged-only" is trec_eval -J): the sidebar's choice. Scores
are keyed by qrels content, so a view under a set already scored reads what is stored and scores nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pandas as pd
import streamlit as st

from workbench.analysis.compare import compare_pair, win_matrix
from workbench.analysis.stats import bootstrap_means, percentile_interval, significance_table
from workbench.env import env_int, env_seconds, env_text
from workbench.errors import NotFoundError, WorkbenchError
from workbench.export.formats import DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS
from workbench.export.leaderboard import Leaderboard
from workbench.model import RunInfo
from workbench.scoring import evaluator_id, is_summed, parse_measure
from workbench.services.collection import collection_warnings as warnings
from workbench.services.depth import depth_study_judged, stored_cutoff_curves
from workbench.services.evaluate import Evaluation, evaluate_runs, load_evaluation, resolve_measures, semantics_for
from workbench.services.fusion import score_fused_stored
from workbench.services.leaderboard import build_leaderboard
from workbench.store import (
    CollectionInfo,
    QrelsSetInfo,
    Store,
    get_collection,
    get_documents,
    get_qrels,
    get_qrels_set,
    get_run,
    get_topics,
    list_collections,
    list_qrels_sets,
    list_runs,
    query_run_rows,
    score_aggregates,
    score_matrix,
    scored_measures,
)

Token = tuple[float, int]
T = TypeVar("T")
LOCK_TIMEOUT = 30.0
"""A page waits at most this long (unless $WORKBENCH_APP_LOCK_TIMEOUT says otherwise) for the CLI to release the
store before showing an error."""


InputsKey = tuple[str, tuple[tuple[str, str, str | None, int | None], ...]]
"""(qrels hash, ((run, run hash, parent, depth), ...)): what a view computed from these runs' rows, their declared
parent and rerank depth, and the qrels it scores against (the collection's own or a named set) depends on."""
NONRELEVANT = "nonrelevant"
"""Unjudged documents as non-relevant: trec_eval's default treatment (`services.evaluate.UNJUDGED`)."""


class StoreChanged(WorkbenchError):
    """The store no longer holds the inputs a view was keyed on: the page reruns with a fresh catalogue."""


def store_for(db: str) -> Store:
    """A connection-less handle; readers retry while another process holds the write lock."""
    return Store(db, lock_timeout=env_seconds("WORKBENCH_APP_LOCK_TIMEOUT", LOCK_TIMEOUT))


def token_for(db: str) -> Token:
    return Store(db).version_token()


def _one_connection(read: Callable[..., T]) -> Callable[..., T]:
    """A cached read whose store reads (nested cached reads included) share one connection (Store.reading)."""

    @functools.wraps(read)
    def wrapper(db: str, *args, **kwargs) -> T:
        with store_for(db).reading():
            return read(db, *args, **kwargs)

    return wrapper


# ----------------------------------------------------------------------------------------------- catalogue
@st.cache_data(show_spinner=False, max_entries=32)
@_one_connection
def collections(db: str, token: Token) -> list[CollectionInfo]:
    return list_collections(store_for(db))


@st.cache_data(show_spinner=False, max_entries=32)
@_one_connection
def collection_warnings(db: str, token: Token, collection: str) -> tuple[str, ...]:
    """What the collection's report found off (coverage, grades): shown above every page that scores it."""

    try:
        return warnings(store_for(db), collection)
    except WorkbenchError:  # the page itself says what is wrong with the store or the collection
        return ()


@st.cache_data(show_spinner=False, max_entries=32)
@_one_connection
def qrels_sets(db: str, token: Token, collection: str) -> list[QrelsSetInfo]:
    """The collection's named qrels sets by name (its own qrels, "default", are not among them)."""

    return list_qrels_sets(store_for(db), collection)


def qrels_hash(db: str, token: Token, collection: str, qrels: str | None = None) -> str:
    """The content hash of the qrels scored against: the collection's own (None) or the named set's."""

    if qrels is None:
        return next(c.qrels_hash for c in collections(db, token) if c.name == collection)
    for info in qrels_sets(db, token, collection):
        if info.name == qrels:
            return info.qrels_hash
    raise NotFoundError(f"collection {collection!r} has no qrels named {qrels!r}")


@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def runs(db: str, token: Token, collection: str) -> list[RunInfo]:
    return list_runs(store_for(db), collection)


@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def measures(db: str, token: Token, collection: str, qrels: str | None = None) -> list[str]:
    """Measures scored for at least one run of the collection against its current qrels (or the named set)."""

    return scored_measures(store_for(db), collection, qrels_hash(db, token, collection, qrels) if qrels else None)


@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def default_measures(db: str, token: Token, collection: str) -> list[str]:
    return resolve_measures(store_for(db), collection, None)


def inputs_key(db: str, token: Token, collection: str, names: Sequence[str], qrels: str | None = None) -> InputsKey:
    """The InputsKey of a view over the runs `names` of `collection` scored against `qrels` (None: the
    collection's own), from the token-cached catalogue."""
    infos = {r.name: r for r in runs(db, token, collection)}
    return (qrels_hash(db, token, collection, qrels),
            tuple(_run_key(infos[name]) for name in dict.fromkeys(names)))


def _run_key(info: RunInfo) -> tuple[str, str, str | None, int | None]:
    return info.name, info.run_hash, info.parent, info.depth


def _check_inputs(db: str, collection: str, key: InputsKey, qrels: str | None = None) -> None:
    """Raise StoreChanged unless the store holds `key`'s inputs (`qrels`: the named set it was keyed on, None for
    the collection's own), read on the call's connection (which keeps writers out while it is open): a result
    must not be cached under a key whose content it was not computed from (a write between the page's catalogue
    read and this call)."""

    store = store_for(db)
    key_hash, run_keys = key
    try:
        hashes = ([get_collection(store, collection).qrels_hash] if qrels is None
                  else [s.qrels_hash for s in list_qrels_sets(store, collection) if s.name == qrels])
        same = hashes == [key_hash] and all(
            _run_key(get_run(store, collection, run_key[0])) == run_key for run_key in run_keys)
    except WorkbenchError:  # a run or the collection is gone
        same = False
    if not same:
        raise StoreChanged(f"the store changed while {collection!r} was read; reading it again")


# ----------------------------------------------------------------------------------------------- scores
@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def evaluation(db: str, token: Token, collection: str, measures: tuple[str, ...],
               runs: tuple[str, ...] | None = None, *, qrels: str | None = None,
               unjudged: str = NONRELEVANT) -> Evaluation:
    """Stored per-query scores (`load_evaluation`: read-only, current evaluators only).

    `runs` of the result holds the runs that have every measure; runs missing one are left out (the page offers
    to score them with `score_runs`).
    """

    ev = load_evaluation(store_for(db), collection, list(measures), list(runs) if runs else None, qrels=qrels,
                         unjudged=unjudged)
    complete = _complete(ev.per_query.groupby("run")["measure"].nunique(), len(ev.measures))
    frame = ev.per_query[ev.per_query["run"].isin(complete)].reset_index(drop=True)
    return replace(ev, runs=complete, per_query=frame)


def _complete(have: pd.Series, n: int) -> tuple[str, ...]:
    return tuple(sorted(have.index[have == n]))


@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def aggregates(db: str, token: Token, collection: str, measures: tuple[str, ...],
               runs: tuple[str, ...] | None = None, *, qrels: str | None = None,
               unjudged: str = NONRELEVANT) -> pd.DataFrame:
    """run, measure, value, n_queries of the runs scored on every measure, aggregated in DuckDB.

    The same numbers as `Evaluation.aggregate()` (mean, or sum for count measures) without fetching a single
    per-query row: the leaderboard needs no more unless it tests significance.
    """

    store = store_for(db)
    names = resolve_measures(store, collection, list(measures))
    frame = score_aggregates(store, collection, {m: evaluator_id(parse_measure(m)) for m in names},
                             semantics_for(unjudged), list(runs) if runs else None,
                             qrels_hash(db, token, collection, qrels) if qrels else None)
    sums = {m for m in names if is_summed(m)}
    frame["value"] = frame["mean"].where(~frame["measure"].isin(sums), frame["total"])
    frame = frame[frame["run"].isin(_complete(frame.groupby("run")["measure"].nunique(), len(names)))]
    return frame[["run", "measure", "value", "n_queries"]].reset_index(drop=True)


def scored_runs(db: str, token: Token, collection: str, measures: tuple[str, ...], *, qrels: str | None = None,
                unjudged: str = NONRELEVANT) -> tuple[str, ...]:
    """Runs with stored scores on every measure (the rest need `score_runs`)."""
    return tuple(sorted(set(aggregates(db, token, collection, measures, qrels=qrels, unjudged=unjudged)["run"])))


def score_runs(db: str, collection: str, runs: Sequence[str], measures: Sequence[str] | None = None, *,
               on_run: Callable[[str, int, int], None] | None = None, qrels: str | None = None,
               unjudged: str = NONRELEVANT) -> int:
    """Score runs on measures (the collection's defaults when None) against `qrels` (None: the collection's own),
    unjudged documents treated as `unjudged` says, and store the values; uncached (a write). Returns the
    (run, measure) pairs scored now: 0 when the store had them all. `on_run(run, done, total)` after each run, for
    a progress bar."""

    return evaluate_runs(store_for(db), collection, list(measures) if measures else None, list(runs),
                         on_run=on_run, qrels=qrels, unjudged=unjudged).computed


SIGNIFICANCE_BUDGET = 25_000
"""Per-query values a leaderboard tests without asking (runs x measures x queries); above it, on request."""


def significance_budget() -> int:
    """SIGNIFICANCE_BUDGET, or $WORKBENCH_APP_TEST_BUDGET (0: never test without asking)."""
    return env_int("WORKBENCH_APP_TEST_BUDGET", SIGNIFICANCE_BUDGET, minimum=0)


def test_size(db: str, token: Token, collection: str, measures: tuple[str, ...], *, qrels: str | None = None,
              unjudged: str = NONRELEVANT) -> int:
    """How many per-query values significance testing over the scored runs would read."""
    agg = aggregates(db, token, collection, measures, qrels=qrels, unjudged=unjudged)
    return int(agg["n_queries"].sum())


@st.cache_data(show_spinner=False, max_entries=32)
@_one_connection
def leaderboard(db: str, token: Token, collection: str, measures: tuple[str, ...], runs: tuple[str, ...] | None,
                baselines: tuple[str, ...], test: str, correction: str, alpha: float, n_resamples: int,
                show_ci: bool, *, qrels: str | None = None, unjudged: str = NONRELEVANT,
                bounds: bool = False) -> Leaderboard:
    """`build_leaderboard` over the stored scores; without a test, from DuckDB aggregates alone. `bounds`: beside
    each value, the stored value with each run's unjudged documents relevant (`leaderboard --bounds`)."""

    high = _aggregate_evaluation(db, token, collection, measures, runs, qrels, "relevant") if bounds else None
    if baselines and test != "none":
        ev = evaluation(db, token, collection, measures, runs, qrels=qrels, unjudged=unjudged)
        return build_leaderboard(ev, baselines=baselines, test=test, correction=correction, alpha=alpha,
                                 show_ci=show_ci, n_resamples=n_resamples, unjudged_relevant=high)
    return build_leaderboard(_aggregate_evaluation(db, token, collection, measures, runs, qrels, unjudged),
                             baselines=baselines, test="none", show_ci=show_ci, unjudged_relevant=high)


def _aggregate_evaluation(db: str, token: Token, collection: str, measures: tuple[str, ...],
                          runs: tuple[str, ...] | None, qrels: str | None, unjudged: str) -> Evaluation:
    """An Evaluation whose aggregate() is the DuckDB aggregates (build_leaderboard reads nothing else untested)."""

    agg = aggregates(db, token, collection, measures, runs, qrels=qrels, unjudged=unjudged)
    evaluators = {m: evaluator_id(parse_measure(m)) for m in measures}
    return _Aggregated(collection, qrels_hash(db, token, collection, qrels), semantics_for(unjudged),
                       tuple(measures), tuple(sorted(set(agg["run"]))),
                       agg.assign(evaluator=agg["measure"].map(evaluators)), 0, qrels=qrels)


class _Aggregated(Evaluation):
    """Evaluation built from aggregates: `per_query` holds one aggregate row per (run, measure)."""

    def aggregate(self) -> pd.DataFrame:
        return self.per_query[["run", "measure", "value", "n_queries"]]


@st.cache_data(show_spinner=False, max_entries=32)
@_one_connection
def mean_intervals(db: str, token: Token, collection: str, measure: str, runs: tuple[str, ...],
                   n_resamples: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95, *, qrels: str | None = None,
                   unjudged: str = NONRELEVANT) -> pd.DataFrame:
    """run, mean, ci_low, ci_high: percentile bootstrap CI of each run's mean (shared resamples)."""

    store = store_for(db)
    (name,) = resolve_measures(store, collection, [measure])
    names, _, mat = score_matrix(store, collection, name, evaluator_id(parse_measure(name)), semantics_for(unjudged),
                                 runs, qrels_hash(db, token, collection, qrels) if qrels else None)
    order = {r: i for i, r in enumerate(names)}
    names = [r for r in runs if r in order]  # the caller's order (the leaderboard's)
    if not names:
        return pd.DataFrame(columns=["run", "mean", "ci_low", "ci_high"])
    mat = mat[[order[r] for r in names]]  # runs x queries
    boot = bootstrap_means(mat, n_resamples, 0)
    low, high = percentile_interval(boot, confidence)
    return pd.DataFrame({"run": names, "mean": mat.mean(axis=1), "ci_low": low, "ci_high": high})


@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def pair(db: str, token: Token, collection: str, a: str, b: str, measure: str, tie_tolerance: float = 0.0,
         top_n: int = 10, *, qrels: str | None = None, unjudged: str = NONRELEVANT):

    ev = evaluation(db, token, collection, (measure,), (a, b), qrels=qrels, unjudged=unjudged)
    return compare_pair(ev.per_query, a, b, measure, tie_tolerance=tie_tolerance, top_n=top_n)


PAIR_RESAMPLES = DEFAULT_PERMUTATIONS
"""Permutations of the randomisation test and bootstrap samples of the CI on the per-query page (as the CLI's)."""


@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def pair_test(db: str, token: Token, collection: str, a: str, b: str, measure: str, test: str = "t",
              alpha: float = 0.05, n_resamples: int = PAIR_RESAMPLES, *, qrels: str | None = None,
              unjudged: str = NONRELEVANT):
    """The paired test of run `a` against baseline `b` on `measure`, with the 95% percentile bootstrap CI of the
    mean per-query delta (a - b): `significance_table` of that one comparison (seed 0; one comparison, so no
    correction), as `workbench compare b a` computes it."""

    ev = evaluation(db, token, collection, (measure,), (a, b), qrels=qrels, unjudged=unjudged)
    return significance_table(ev.per_query, [b], [a], [measure], test=test, correction="none", alpha=alpha,
                              n_resamples=n_resamples)


@st.cache_data(show_spinner=False, max_entries=32)
@_one_connection
def matrix(db: str, token: Token, collection: str, runs: tuple[str, ...], measure: str, tie_tolerance: float = 0.0,
           *, qrels: str | None = None, unjudged: str = NONRELEVANT):

    ev = evaluation(db, token, collection, (measure,), runs, qrels=qrels, unjudged=unjudged)
    return win_matrix(ev.per_query, list(runs), measure, tie_tolerance)


# ----------------------------------------------------------------------------------------------- queries
@st.cache_data(show_spinner=False, max_entries=16)
@_one_connection
def topics(db: str, token: Token, collection: str) -> pd.DataFrame:
    return get_topics(store_for(db), collection).to_pandas()


@st.cache_data(show_spinner=False, max_entries=16)
@_one_connection
def query_labels(db: str, token: Token, collection: str, width: int = 160, *,
                 qrels: str | None = None) -> dict[str, str]:
    """The queries `qrels` judges (None: the collection's own) as the drill-down's picker lists them, id ->
    "id · text" (whitespace runs as one space, the text cut at `width` characters), in (length, id) order: typing
    words of a query's text in the picker finds it. Built once per store version (0.03 s for 7,000 queries), not
    on every rerun."""
    ids = sorted(pd.unique(judgments(db, token, collection, qrels)["query_id"]), key=lambda q: (len(q), q))
    frame = topics(db, token, collection)
    texts = dict(zip(frame["query_id"], frame["text"], strict=True))
    return {q: _label(q, " ".join(str(texts.get(q) or "").split()), width) for q in ids}


def _label(query_id: str, text: str, width: int) -> str:
    if not text:
        return query_id
    return f"{query_id} · {text[:width - 1]}…" if len(text) >= width else f"{query_id} · {text}"


@st.cache_data(show_spinner=False, max_entries=8)
@_one_connection
def judgments(db: str, token: Token, collection: str, qrels: str | None = None) -> pd.DataFrame:
    """query_id, doc_id, relevance of the collection's own qrels (None) or of the named set `qrels`."""

    store = store_for(db)
    table = get_qrels(store, collection) if qrels is None else get_qrels_set(store, collection, qrels)[1]
    return table.to_pandas()


@st.cache_data(show_spinner=False, max_entries=64)
@_one_connection
def query_rows(db: str, token: Token, collection: str, runs: tuple[str, ...], query_id: str) -> pd.DataFrame:
    """All rows of a few runs for one query, in trec_eval order (`position`)."""

    return query_run_rows(store_for(db), collection, list(runs), query_id).to_pandas()


@st.cache_data(show_spinner=False, max_entries=128)
@_one_connection
def documents(db: str, token: Token, collection: str, doc_ids: tuple[str, ...]) -> pd.DataFrame:
    return get_documents(store_for(db), collection, list(doc_ids)).to_pandas()


# ----------------------------------------------------------------------------------------------- depth
def _named(qrels: str | None) -> dict[str, str]:
    """`qrels=` for a service call when a named set is chosen; nothing for the collection's own."""
    return {} if qrels is None else {"qrels": qrels}


@st.cache_data(show_spinner=False, max_entries=16)
@_one_connection
def depth_study(db: str, inputs: InputsKey, collection: str, reranked: str, measures: tuple[str, ...],
                observed: tuple[str, ...], judged_k: int = 10, n_boot: int = DEFAULT_BOOTSTRAP,
                cutoff_curve: tuple[str, tuple[int, ...], int | None] | None = None, qrels: str | None = None,
                bounds: bool = False):
    """`workbench.services.depth.depth_study_judged`: the study `workbench depth` prints, the Judged@k summary and, when
    the join reaches them, the cutoff curves asked for (a frame as `cutoff_curves`, else None), reading only the
    rows they need. Returns (DepthStudy, JudgedSummary, frame or None). `inputs`: the InputsKey of the reranked
    run, its first stage and the observed runs, against `qrels` (None: the collection's own). `bounds`: the
    study's curve with unjudged documents relevant."""

    _check_inputs(db, collection, inputs, qrels)

    study, judged, curves = depth_study_judged(store_for(db), collection, reranked, measures,
                                               observed=list(observed), judged_k=judged_k, n_boot=n_boot,
                                               cutoff_curve=cutoff_curve, bounds=bounds, **_named(qrels))
    return study, judged, None if curves is None else _curves_frame(curves)


@st.cache_data(show_spinner=False, max_entries=16)
@_one_connection
def cutoff_curves(db: str, inputs: InputsKey, collection: str, family: str, cutoffs: tuple[int, ...],
                  rel: int | None, qrels: str | None = None) -> pd.DataFrame:
    """run, cutoff, measure, mean: `cutoff_curve` of each run of `inputs` (an InputsKey), from its judged rows
    down to max(cutoffs), against `qrels` (None: the collection's own)."""

    _check_inputs(db, collection, inputs, qrels)
    names = [run_key[0] for run_key in inputs[1]]
    return _curves_frame(stored_cutoff_curves(store_for(db), collection, names, family, cutoffs, rel,
                                              **_named(qrels)))


def _curves_frame(curves: dict) -> pd.DataFrame:
    return pd.concat([c.to_frame().assign(run=name) for name, c in curves.items()],
                     ignore_index=True)[["run", "cutoff", "measure", "mean"]]


# ----------------------------------------------------------------------------------------------- fusion
@st.cache_data(show_spinner=False, max_entries=16)
@_one_connection
def fused(db: str, inputs: InputsKey, collection: str, params: tuple[tuple[str, object], ...],
          measures: tuple[str, ...], qrels: str | None = None,
          unjudged: str = NONRELEVANT) -> tuple[int, int, pd.DataFrame]:
    """(rows, queries, per-query scores with `run`="fused") of the fusion of the runs of `inputs` (an InputsKey),
    computed in DuckDB and not stored: each input read only `depth` deep by its stored positions, the fused rows
    scored where they lie, against `qrels` (None: the collection's own) with unjudged documents as `unjudged`."""

    _check_inputs(db, collection, inputs, qrels)
    names = [run_key[0] for run_key in inputs[1]]
    n_rows, n_queries, frame = score_fused_stored(store_for(db), collection, names, measures, qrels=qrels,
                                                  unjudged=unjudged, **dict(params))
    return n_rows, n_queries, frame.assign(run="fused")[["run", "query_id", "measure", "value"]]


def runs_dir() -> Path:
    """Where runs made in the dashboard are written before ingest: $WORKBENCH_RUNS_DIR, else ./runs."""
    return Path(env_text("WORKBENCH_RUNS_DIR") or "runs")
