"""Cached reads and library calls for the dashboard.

Every function takes `(db, token, ...)`: `db` is the store path and `token` its `Store.version_token()`, so a
write by anyone (the CLI, another tab) changes the key and the next rerun reads fresh data. Each call opens the
store's short-lived connections (which retry on lock) and holds nothing across reruns. No analysis happens
here: these are thin wrappers over workbench.store / evaluate / leaderboard / analysis / retrieval.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import streamlit as st

from workbench.evaluate import Evaluation
from workbench.export.leaderboard import Leaderboard
from workbench.model import RunInfo
from workbench.store import CollectionInfo, Store

Token = tuple[float, int]
LOCK_TIMEOUT = float(os.environ.get("WORKBENCH_APP_LOCK_TIMEOUT", "30"))
"""A page waits at most this long for the CLI to release the store before showing an error."""


def store_for(db: str) -> Store:
    """A connection-less handle; readers retry while another process holds the write lock."""
    return Store(db, lock_timeout=LOCK_TIMEOUT)


def token_for(db: str) -> Token:
    return Store(db).version_token()


# ----------------------------------------------------------------------------------------------- catalogue
@st.cache_data(show_spinner=False, max_entries=32)
def collections(db: str, token: Token) -> list[CollectionInfo]:
    from workbench.store import list_collections

    return list_collections(store_for(db))


@st.cache_data(show_spinner=False, max_entries=64)
def runs(db: str, token: Token, collection: str) -> list[RunInfo]:
    from workbench.store import list_runs

    return list_runs(store_for(db), collection)


@st.cache_data(show_spinner=False, max_entries=64)
def measures(db: str, token: Token, collection: str) -> list[str]:
    """Measures scored for at least one run of the collection (against its current qrels)."""
    from workbench.store import scored_measures

    return scored_measures(store_for(db), collection)


@st.cache_data(show_spinner=False, max_entries=64)
def default_measures(db: str, token: Token, collection: str) -> list[str]:
    from workbench.evaluate import resolve_measures

    return resolve_measures(store_for(db), collection, None)


# ----------------------------------------------------------------------------------------------- scores
@st.cache_data(show_spinner=False, max_entries=64)
def evaluation(db: str, token: Token, collection: str, measures: tuple[str, ...],
               runs: tuple[str, ...] | None = None) -> Evaluation:
    """Stored per-query scores as an Evaluation, read-only (never scores anything; see `score_runs`).

    Only rows from each measure's current evaluator are kept, as `evaluate_runs` does. `runs` holds the runs
    that have every measure; runs missing one are left out (the page offers to score them).
    """
    from workbench.scoring import SEMANTICS, evaluator_id, parse_measure
    from workbench.store import get_collection, per_query_scores

    store = store_for(db)
    info = get_collection(store, collection)
    frame = per_query_scores(store, collection, list(measures), SEMANTICS, list(runs) if runs else None)
    current = {m: evaluator_id(parse_measure(m)) for m in measures}
    frame = frame[frame["evaluator"] == frame["measure"].map(current)].reset_index(drop=True)
    have = frame.groupby("run")["measure"].nunique()
    complete = tuple(sorted(have.index[have == len(measures)]))
    frame = frame[frame["run"].isin(complete)].reset_index(drop=True)
    return Evaluation(collection, info.qrels_hash, SEMANTICS, tuple(measures), complete, frame, 0)


def score_runs(db: str, collection: str, runs: Sequence[str], measures: Sequence[str] | None = None) -> int:
    """Score runs on measures (the collection's defaults when None) and store the values; uncached (a write)."""
    from workbench.evaluate import evaluate_runs

    return evaluate_runs(store_for(db), collection, list(measures) if measures else None, list(runs)).computed


@st.cache_data(show_spinner=False, max_entries=32)
def leaderboard(db: str, token: Token, collection: str, measures: tuple[str, ...], runs: tuple[str, ...] | None,
                baselines: tuple[str, ...], test: str, correction: str, alpha: float, n_resamples: int,
                show_ci: bool) -> Leaderboard:
    from workbench.leaderboard import build_leaderboard

    ev = evaluation(db, token, collection, measures, runs)
    return build_leaderboard(ev, baselines=baselines, test=test, correction=correction, alpha=alpha,
                             show_ci=show_ci, n_resamples=n_resamples)


@st.cache_data(show_spinner=False, max_entries=32)
def mean_intervals(db: str, token: Token, collection: str, measure: str, runs: tuple[str, ...],
                   n_resamples: int = 1000, confidence: float = 0.95) -> pd.DataFrame:
    """run, mean, ci_low, ci_high: percentile bootstrap CI of each run's mean (shared resamples)."""
    from workbench.analysis.compare import aligned_matrix
    from workbench.analysis.stats import bootstrap_means, percentile_interval

    ev = evaluation(db, token, collection, (measure,), runs)
    names = [r for r in runs if r in ev.runs]
    if not names:
        return pd.DataFrame(columns=["run", "mean", "ci_low", "ci_high"])
    _, mat = aligned_matrix(ev.per_query, names, measure)
    mat = mat.T  # runs x queries; every run has every judged query (trec_eval -c)
    boot = bootstrap_means(mat, n_resamples, 0)
    low, high = percentile_interval(boot, confidence)
    return pd.DataFrame({"run": names, "mean": mat.mean(axis=1), "ci_low": low, "ci_high": high})


@st.cache_data(show_spinner=False, max_entries=64)
def pair(db: str, token: Token, collection: str, a: str, b: str, measure: str, tie_tolerance: float = 0.0,
         top_n: int = 10):
    from workbench.analysis.compare import compare_pair

    ev = evaluation(db, token, collection, (measure,), (a, b))
    return compare_pair(ev.per_query, a, b, measure, tie_tolerance=tie_tolerance, top_n=top_n)


@st.cache_data(show_spinner=False, max_entries=32)
def matrix(db: str, token: Token, collection: str, runs: tuple[str, ...], measure: str, tie_tolerance: float = 0.0):
    from workbench.analysis.compare import win_matrix

    ev = evaluation(db, token, collection, (measure,), runs)
    return win_matrix(ev.per_query, list(runs), measure, tie_tolerance)


# ----------------------------------------------------------------------------------------------- queries
@st.cache_data(show_spinner=False, max_entries=16)
def topics(db: str, token: Token, collection: str) -> pd.DataFrame:
    from workbench.store import get_topics

    return get_topics(store_for(db), collection).to_pandas()


@st.cache_data(show_spinner=False, max_entries=8)
def qrels(db: str, token: Token, collection: str) -> pd.DataFrame:
    from workbench.store import get_qrels

    return get_qrels(store_for(db), collection).to_pandas()


@st.cache_data(show_spinner=False, max_entries=64)
def query_rows(db: str, token: Token, collection: str, runs: tuple[str, ...], query_id: str) -> pd.DataFrame:
    """All rows of a few runs for one query, in trec_eval order (`position`)."""
    from workbench.store import get_run_rows_for_queries

    return get_run_rows_for_queries(store_for(db), collection, list(runs), [query_id]).to_pandas()


@st.cache_data(show_spinner=False, max_entries=128)
def documents(db: str, token: Token, collection: str, doc_ids: tuple[str, ...]) -> pd.DataFrame:
    from workbench.store import get_documents

    return get_documents(store_for(db), collection, list(doc_ids)).to_pandas()


# ----------------------------------------------------------------------------------------------- whole runs
@st.cache_data(show_spinner=False, max_entries=8)
def run_rows(db: str, token: Token, collection: str, name: str) -> pa.Table:
    """A whole run: only the depth and fusion pages need these, and only for the runs they are given."""
    from workbench.store import get_run_rows

    return get_run_rows(store_for(db), collection, name)


@st.cache_data(show_spinner=False, max_entries=8)
def qrels_table(db: str, token: Token, collection: str) -> pa.Table:
    from workbench.store import get_qrels

    return get_qrels(store_for(db), collection)


@st.cache_data(show_spinner=False, max_entries=16)
def depth_curve(db: str, token: Token, collection: str, first: str, reranked: str, measures: tuple[str, ...],
                observed: tuple[tuple[int, str], ...], n_boot: int = 1000, judged_k: int = 10):
    from workbench.analysis.depth import depth_curve as curve

    obs = {k: run_rows(db, token, collection, name) for k, name in observed}
    return curve(run_rows(db, token, collection, first), run_rows(db, token, collection, reranked),
                 qrels_table(db, token, collection), list(measures), observed=obs or None, n_boot=n_boot,
                 judged_k=judged_k)


@st.cache_data(show_spinner=False, max_entries=16)
def fused(db: str, token: Token, collection: str, inputs: tuple[str, ...], params: tuple[tuple[str, object], ...],
          measures: tuple[str, ...]) -> tuple[pa.Table, pd.DataFrame]:
    """The fused run and its per-query scores (`run`="fused") on `measures`, computed in memory (not stored)."""
    from workbench.retrieval.fuse import fuse
    from workbench.scoring import evaluate

    result = fuse([run_rows(db, token, collection, n) for n in inputs], names=list(inputs), **dict(params))
    scores = evaluate(result.run, qrels_table(db, token, collection), list(measures))
    frame = scores.to_pandas() if isinstance(scores, pa.Table) else pd.DataFrame(scores)
    return result.run, frame.assign(run="fused")[["run", "query_id", "measure", "value"]]


def runs_dir() -> Path:
    """Where runs made in the dashboard are written before ingest: $WORKBENCH_RUNS_DIR, else ./runs."""
    return Path(os.environ.get("WORKBENCH_RUNS_DIR") or "runs")
