"""Score stored runs, computing only what the store does not already know.

Scores are keyed by (run hash, qrels hash, measure, semantics, evaluator): changed qrels can never serve stale
scores and unchanged inputs are never rescored. Aggregates are derived from the stored per-query values with
the measure's own aggregator (mean for most, sum for NumRet-style counts), as trec_eval's `all` rows are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.scoring import (
    SEMANTICS,
    NamedMeasure,
    default_measures,
    evaluate,
    evaluate_ranked,
    evaluator_id,
    named_measures,
    ranked_plan,
)
from workbench.scoring import aggregate as aggregate_scores
from workbench.scoring.judgments import JUDGED_ONLY, UNJUDGED_RELEVANT, evaluate_judged_only, evaluate_unjudged_relevant
from workbench.store import DEFAULT_QRELS as DEFAULT
from workbench.store import (
    CollectionInfo,
    Store,
    get_collection,
    get_qrels,
    get_qrels_set,
    get_run_rows,
    judged_ranks,
    list_runs,
    per_query_scores,
    put_scores_many,
    scored_keys,
)

if TYPE_CHECKING:  # imported where a frame is built: `ingest --measures` starts without pandas
    import pandas as pd

    from workbench.scoring import NamedMeasure


@dataclass(frozen=True)
class Evaluation:
    """Per-query values of runs on measures over one collection's current qrels.

    Measures are named as the user asked for them (`map`, `NumRelRet`, `ndcg_cut_10`): `measures` and the
    `measure` column hold those names, `canonical` maps each to ir-measures' spelling (the store's key)."""

    collection: str
    qrels_hash: str
    semantics: str
    measures: tuple[str, ...]
    runs: tuple[str, ...]
    per_query: pd.DataFrame  # run, query_id, measure, value, evaluator, semantics
    computed: int  # how many (run, measure) pairs were scored now rather than read from the store
    canonical: dict[str, str] = field(default_factory=dict)  # name shown -> canonical (absent: the same)
    qrels: str | None = None  # the named qrels set scored against (None: the collection's own)

    def aggregate(self) -> pd.DataFrame:
        """One row per run and measure: value (mean or sum as the measure says) and n_queries."""
        return aggregate(self.per_query, self.canonical)

    def evaluators(self) -> dict[str, str]:
        return dict(self.per_query.groupby("measure")["evaluator"].first()) if len(self.per_query) else {}

    def canonical_name(self, measure: str) -> str:
        """ir-measures' spelling of a measure named as shown (`map` -> `AP`)."""
        return self.canonical.get(measure, measure)


def aggregate(per_query: pd.DataFrame, canonical: dict[str, str] | None = None) -> pd.DataFrame:
    """`scoring.aggregate` per (run, measure) as a frame with n_queries: the mean, or the exact sum for counts, so
    `evaluate`, `ingest --measures` and `eval` agree to the last bit; `canonical` maps shown names to ir-measures
    spellings (what decides mean or sum)."""
    import pandas as pd


    if per_query.empty:
        return pd.DataFrame(columns=["run", "measure", "value", "n_queries"])
    canonical = canonical or {}
    values = aggregate_scores(pa.table({"run": pa.array(per_query["run"], pa.string()),
                                        "measure": pa.array(per_query["measure"].map(lambda m: canonical.get(m, m)),
                                                            pa.string()),
                                        "value": pa.array(per_query["value"], pa.float64())}), group="run")
    out = per_query.groupby(["run", "measure"], sort=False)["value"].count().rename("n_queries").reset_index()
    out["value"] = [values[r][canonical.get(m, m)] for r, m in zip(out["run"], out["measure"], strict=True)]
    return out[["run", "measure", "value", "n_queries"]]


def resolve_measures(store: Store, collection: str, measures: Sequence[str] | None) -> list[str]:
    """Canonical measure strings; the collection's default set when none are given."""
    return [nm.canonical for nm in resolve_named(store, collection, measures)]


def resolve_named(store: Store, collection: str, measures: Sequence[str] | None) -> list[NamedMeasure]:
    """The measures asked for with the names to show them under (ir-measures or trec_eval spellings, each
    measure once); the collection's default set, named canonically, when none are given."""

    if measures:
        return named_measures(list(measures))
    kind = get_collection(store, collection).relevance_kind
    return [NamedMeasure(str(m), m) for m in default_measures(kind)]


def load_evaluation(
    store: Store, collection: str, measures: Sequence[str] | None = None, runs: Sequence[str] | None = None,
    *, unjudged: str = "nonrelevant", qrels: str | None = None,
) -> Evaluation:
    """The stored per-query values only: scores nothing, writes nothing (the dashboard reads with this).

    Runs or measures not scored yet are simply absent; `evaluate_runs` fills them in. `unjudged`, `qrels`: see
    `evaluate_runs`.
    """

    info = get_collection(store, collection)
    named = resolve_named(store, collection, measures)
    names = list(runs) if runs else sorted(r.name for r in list_runs(store, collection))
    qrels_name, qrels_hash, _ = named_qrels(store, info, qrels, rows=False)
    return _stored(store, info, named, names, {nm.canonical: evaluator_id(nm.measure) for nm in named},
                   semantics_for(unjudged), computed=0, qrels_hash=qrels_hash, qrels_name=qrels_name)


def named_qrels(store: Store, info: CollectionInfo, qrels: str | None, *, rows: bool = True):
    """(set name or None, qrels hash, the set's judgments when `rows`) of the qrels asked for by name; the
    collection's own for None or "default" (their judgments are read where they are needed)."""
    if qrels is None or qrels == DEFAULT:
        return None, info.qrels_hash, None
    set_info, table = get_qrels_set(store, info.name, qrels)
    return qrels, set_info.qrels_hash, table if rows else None


UNJUDGED = ("nonrelevant", "judged-only", "relevant")
"""How scoring treats the documents a run ranks that the qrels do not judge: as non-relevant (trec_eval's
default), dropped from the ranking (trec_eval -J), or relevant at the top grade (the optimistic end of the bounds)."""


def semantics_for(unjudged: str) -> str:
    """The semantics stored with scores computed under an `unjudged` treatment (part of every score's key)."""

    try:
        return {"nonrelevant": SEMANTICS, "judged-only": JUDGED_ONLY, "relevant": UNJUDGED_RELEVANT}[unjudged]
    except KeyError:
        raise WorkbenchError(f"unknown treatment of unjudged documents {unjudged!r}; expected one of "
                             f"{', '.join(UNJUDGED)}") from None


def _stored(store, info, named: list[NamedMeasure], names, evaluators, semantics, computed, *,
            qrels_hash: str | None = None, qrels_name: str | None = None) -> Evaluation:
    """The stored values (keyed by canonical names), renamed to the names asked for."""
    measure_names = [nm.canonical for nm in named]
    per_query = per_query_scores(store, info.name, measure_names, semantics, names, qrels_hash=qrels_hash)
    per_query = per_query[per_query["evaluator"] == per_query["measure"].map(evaluators)].reset_index(drop=True)
    shown = {nm.canonical: nm.name for nm in named}
    if any(name != canonical for canonical, name in shown.items()):
        per_query["measure"] = per_query["measure"].map(shown)
    return Evaluation(info.name, qrels_hash or info.qrels_hash, semantics, tuple(nm.name for nm in named),
                      tuple(names), per_query, computed, {nm.name: nm.canonical for nm in named}, qrels_name)


def evaluate_runs(
    store: Store,
    collection: str,
    measures: Sequence[str] | None = None,
    runs: Sequence[str] | None = None,
    *,
    on_run: Callable[[str, int, int], None] | None = None,
    unjudged: str = "nonrelevant",
    qrels: str | None = None,
) -> Evaluation:
    """Score the named runs (all of the collection's by default) on the measures, storing per-query values.

    `unjudged`: "nonrelevant" (trec_eval), "judged-only" (trec_eval -J) or "relevant" (each run's unjudged
    documents within a measure's cutoff relevant at the top grade); each is a semantics of its own in the key.
    `qrels`: a named qrels set of the collection (None or "default": its own); scores are keyed by its content."""

    semantics = semantics_for(unjudged)

    named = resolve_named(store, collection, measures) if measures else None  # bad measures: before any read
    with store.reading():  # one connection for the reads before any write
        info = get_collection(store, collection)
        named = named or resolve_named(store, collection, None)
        measure_names = [nm.canonical for nm in named]
        all_runs = {r.name: r for r in list_runs(store, collection)}
        names = list(dict.fromkeys(runs)) if runs else sorted(all_runs)  # a run named twice is one run
        if not names:
            raise WorkbenchError(f"collection {collection!r} has no runs yet; add some with `workbench ingest`")
        missing = [n for n in names if n not in all_runs]
        if missing:
            raise WorkbenchError(f"no run named {', '.join(map(repr, missing))} in collection {collection!r}")
        evaluators = {nm.canonical: evaluator_id(nm.measure) for nm in named}
        qrels_name, qrels_hash, judgments = named_qrels(store, info, qrels)
        done = scored_keys(store, [all_runs[n].run_hash for n in names], qrels_hash, semantics)
    computed = 0
    seen_hashes: set[str] = set()
    for start in range(0, len(names), RUNS_PER_WRITE):
        batch = names[start : start + RUNS_PER_WRITE]
        scored = []
        with store.reading():  # the batch's reads on one connection, then its scores in one transaction
            for i, name in enumerate(batch, start=start):
                run = all_runs[name]
                todo = [m for m in measure_names if (run.run_hash, m, evaluators[m]) not in done]
                if todo and run.run_hash not in seen_hashes:
                    # unordered suits evaluate_ranked (stored ranks); whole-run scoring wants them ordered
                    judgments = judgments if judgments is not None else get_qrels(
                        store, collection, ordered=ranked_plan(measure_names) is None)
                    values = _score_stored_run(store, collection, run.run_hash, name, judgments, todo, unjudged,
                                               whole=qrels_name is not None)
                    scored.append((run.run_hash, values, {m: evaluators[m] for m in todo}))
                    computed += len(todo)
                seen_hashes.add(run.run_hash)
                if on_run:
                    on_run(name, i + 1, len(names))
        if scored:
            put_scores_many(store, qrels_hash, semantics, scored)
    return _stored(store, info, named, names, evaluators, semantics, computed, qrels_hash=qrels_hash,
                   qrels_name=qrels_name)


RUNS_PER_WRITE = 16
"""Runs scored per store transaction: one commit for a batch of small runs, while a batch of MS MARCO-sized ones
holds the file for a few seconds at most before other writers get a turn."""


def _score_stored_run(store: Store, collection: str, run_hash: str, name: str, qrels, measures: list[str],
                      unjudged: str = "nonrelevant", *, whole: bool = False):
    """Per-query values of a stored run: from its judged rows' stored trec_eval positions when every measure
    allows (joined in DuckDB with the collection's own qrels, cut at the deepest cutoff), else from all its rows
    (always when `whole`, for `qrels` of a named set, and when unjudged documents are dropped or made relevant:
    that changes the positions or the qrels)."""

    if unjudged != "nonrelevant" or whole:
        rows = get_run_rows(store, collection, name, ("query_id", "doc_id", "score"))
        score = {"nonrelevant": evaluate, "judged-only": evaluate_judged_only,
                 "relevant": evaluate_unjudged_relevant}[unjudged]
        return score(rows, qrels, measures)

    plan = ranked_plan(measures)
    if plan is None:
        return evaluate(get_run_rows(store, collection, name, ("query_id", "doc_id", "score")), qrels, measures)
    judged, n_ret = judged_ranks(store, collection, run_hash, plan.max_rank, plan.n_ret)
    return evaluate_ranked(judged, n_ret, qrels, measures, stored_qrels=True)
