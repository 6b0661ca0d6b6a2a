"""Reference scoring through ir-measures for any measure it parses, with trec_eval semantics forced.

ir-measures picks a provider per measure, and providers disagree on tie-breaking (msmarco and judged sort
ties by doc_id ascending; pytrec_eval compares scores as float32, trec_eval 10 as float64). We therefore
order each query ourselves (score desc as float64, doc_id desc) and hand every provider strictly decreasing
synthetic scores (n, n-1, ..., 1), so all of them see trec_eval's ranking. pytrec_eval (trec_eval's own C
code) serves every measure it supports; cutoff measures it lacks (RR@k) are computed by pytrec_eval on the
top k; NumRel(rel=k) goes to pytrec_eval directly (ir-measures only routes rel=1). Judged queries missing from
the run get an empty ranking where pytrec_eval serves the measure (trec_eval -c: NumRel stays the count),
else the provider's documented default (0).
"""

from __future__ import annotations

import importlib.metadata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ir_measures
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure
from ir_measures.providers.base import NOT_PROVIDED

from workbench.errors import ProviderUnavailableError, WorkbenchError
from workbench.scoring.base import Scorer

__all__ = ["SCORER", "FallbackScorer", "evaluate", "evaluator_id", "route", "supports"]

RunDict = dict[str, dict[str, float]]
QrelsDict = dict[str, dict[str, int]]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - depends on the install
        return "?"


@dataclass(frozen=True)
class Route:
    """How the reference path computes one measure."""

    provider: str  # ir_measures provider name, or "pytrec_eval.num_rel"
    truncate: int | None = None  # evaluate `base` on the top-k of each ranking
    base: Measure | None = None  # measure actually sent to the provider (cutoff removed when truncating)


def _without_cutoff(m: Measure) -> Measure:
    return type(m)(**{k: v for k, v in m.params.items() if k != "cutoff"})


def _registry() -> dict[str, ir_measures.providers.Provider]:
    return ir_measures.providers.registry


def route(m: Measure) -> Route:
    """Pick the provider for `m` (pytrec_eval first), or raise ProviderUnavailableError."""
    m.validate_params()
    pte = _registry()["pytrec_eval"]
    rel = m.params.get("rel", 1)
    if pte.is_available() and not (isinstance(rel, int) and rel < 1):  # pytrec_eval refuses rel < 1
        if pte.supports(m):
            return Route("pytrec_eval", base=m)
        if m.NAME == "NumRel":
            return Route("pytrec_eval.num_rel", base=m)
        cutoff = m.params.get("cutoff", NOT_PROVIDED)
        if isinstance(cutoff, int) and cutoff >= 1:
            base = _without_cutoff(m)
            if pte.supports(base):
                return Route("pytrec_eval", truncate=cutoff, base=base)
    for provider in ir_measures.DefaultPipeline.providers:
        if provider.NAME != "runtime" and provider.is_available() and provider.supports(m):
            return Route(provider.NAME, base=m)
    hints = [
        f"{p.NAME}: {p.install_instructions()}"
        for p in ir_measures.DefaultPipeline.providers
        if not p.is_available() and p.supports(m) and p.install_instructions()
    ]
    raise ProviderUnavailableError(f"no installed ir-measures provider computes {m}", hint="; ".join(hints) or None)


def supports(m: Measure) -> bool:
    try:
        route(m)
    except ProviderUnavailableError:
        return False
    return True


def evaluator_id(m: Measure) -> str:
    """Implementation and versions that serve `m` on this path (stored with every score)."""
    r = route(m)
    im = f"ir_measures {ir_measures.__version__}"
    pte = f"pytrec_eval-terrier {_version('pytrec-eval-terrier')}"
    if r.provider == "pytrec_eval":
        return f"{im}/{pte}" + (f" (top-{r.truncate} {r.base})" if r.truncate else "")
    if r.provider == "pytrec_eval.num_rel":
        return f"{pte} (num_rel)"
    return f"{im}/{r.provider}"


def _trec_order_dicts(run: pa.Table, queries: set[str]) -> dict[str, list[str]]:
    """doc_ids per judged query in trec_eval order (score desc as float64, doc_id desc)."""
    mask = pc.is_in(run["query_id"], value_set=pa.array(sorted(queries), pa.string()))
    run = run.filter(mask)
    order = pc.sort_indices(
        run, sort_keys=[("query_id", "ascending"), ("score", "descending"), ("doc_id", "descending")]
    )
    run = run.take(order)
    ranked: dict[str, list[str]] = defaultdict(list)
    for q, d in zip(run["query_id"].to_pylist(), run["doc_id"].to_pylist(), strict=True):
        ranked[q].append(d)
    return ranked


def _run_dict(ranked: dict[str, list[str]], top: int | None) -> RunDict:
    out: RunDict = {}
    for q, docs in ranked.items():
        docs = docs if top is None else docs[:top]
        n = len(docs)
        out[q] = {d: float(n - i) for i, d in enumerate(docs)}
    return out


def qrels_dict(qrels: pa.Table) -> QrelsDict:
    out: QrelsDict = defaultdict(dict)
    cols = (qrels[c].to_pylist() for c in ("query_id", "doc_id", "relevance"))
    for q, d, g in zip(*cols, strict=True):
        out[q][d] = int(g)
    return dict(out)


def _prime_pytrec_eval() -> None:
    """Evaluate a throw-away query so trec_eval's static buffers exist and its per-query cache is reset.

    Without it, an empty ranking (a judged query missing from the run) evaluated before any non-empty one in
    the process gets all zeros, NumRel included (te_form_res_rels cannot allocate 0 entries).
    """
    import pytrec_eval

    key = "\x00workbench-prime"
    pytrec_eval.RelevanceEvaluator({key: {"d": 1}}, {"num_rel"}).evaluate({key: {"d": 1.0}})


def _num_rel(qrels: QrelsDict, measures: Iterable[Measure], run: RunDict) -> Iterable[tuple[str, Measure, float]]:
    import pytrec_eval

    for m in measures:
        ev = pytrec_eval.RelevanceEvaluator(qrels, {"num_rel"}, relevance_level=int(m["rel"]))
        for q, vals in ev.evaluate(run).items():
            yield q, m, float(vals["num_rel"])


def _score_one(
    ranked: dict[str, list[str]], qrels: QrelsDict, measures: Sequence[Measure]
) -> dict[tuple[str, Measure], float]:
    routes = {m: route(m) for m in measures}
    by_call: dict[tuple[str, int | None], list[Measure]] = defaultdict(list)
    for m, r in routes.items():
        by_call[(r.provider, r.truncate)].append(m)
    # trec_eval's form_res_rels sizes an array by (max grade + 1) and leaves num_rel_levels stale when no
    # grade is >= 0: a query judged only with negative grades crashes or hangs trec_eval and pytrec_eval
    # alike. Nothing in it can be relevant, so we score it ourselves (0; NumRet counts, NumQ is 1).
    broken = {q for q, docs in qrels.items() if max(docs.values()) < 0}
    pte_qrels = {q: docs for q, docs in qrels.items() if q not in broken}
    empty: dict[str, dict[str, float]] = {q: {} for q in pte_qrels if q not in ranked}
    values = _broken_values(broken, ranked, measures)
    for (provider, top), ms in by_call.items():
        run = _run_dict(ranked, top)
        provider_qrels = qrels
        if provider.startswith("pytrec_eval"):
            provider_qrels = pte_qrels
            run = {q: docs for q, docs in run.items() if q not in broken}
            run.update(empty)  # pytrec_eval scores an empty ranking like trec_eval -c
            _prime_pytrec_eval()
        if provider == "pytrec_eval.num_rel":
            values.update(((q, m), v) for q, m, v in _num_rel(provider_qrels, ms, run))
            continue
        values.update(_provider_values(provider, ms, routes, run, provider_qrels, qrels))
    return values


def _broken_values(broken: set[str], ranked: dict[str, list[str]],
                   measures: Sequence[Measure]) -> dict[tuple[str, Measure], float]:
    """The values of queries judged only with negative grades that are not 0: NumRet counts, NumQ is 1."""
    values: dict[tuple[str, Measure], float] = {}
    for q in broken:
        for m in measures:
            if m.NAME == "NumRet" and m["rel"] is NOT_PROVIDED:
                values[(q, m)] = float(len(ranked.get(q, [])))
            elif m.NAME == "NumQ":
                values[(q, m)] = 1.0
    return values


def _provider_values(provider: str, ms: list[Measure], routes: dict[Measure, Route], run: dict,
                     provider_qrels: QrelsDict, qrels: QrelsDict) -> dict[tuple[str, Measure], float]:
    """One ir-measures provider's values of `ms` (as routed) on the judged queries."""
    values: dict[tuple[str, Measure], float] = {}
    base_of = {b: m for m in ms if (b := routes[m].base) is not None}
    try:
        evaluator = _registry()[provider].evaluator(list(base_of), provider_qrels)
        for metric in evaluator.iter_calc(run):
            asked = base_of.get(metric.measure)
            if asked is not None and metric.query_id in qrels:
                values[(metric.query_id, asked)] = float(metric.value)
    except Exception as e:  # external tools (gdeval.pl, ...) fail in their own ways
        names = ", ".join(str(m) for m in ms)
        raise WorkbenchError(f"ir-measures provider {provider} failed on {names}: {e}") from e
    return values


def evaluate(run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *, group: str | None = None) -> pa.Table:
    """Per-query values for every (group value x judged query x measure), via ir-measures providers."""
    measures = list(dict.fromkeys(measures))
    qd = qrels_dict(qrels)
    queries = sorted(qd, key=lambda s: s.encode())
    if group is None:
        parts: list[tuple[object, pa.Table]] = [(None, run)]
    else:
        gvals = pc.unique(run[group])
        gvals = gvals.take(pc.sort_indices(gvals))
        parts = [(g, run.filter(pc.equal(run[group], g))) for g in gvals.to_pylist()]
    rows: dict[str, list] = {"query_id": [], "measure": [], "value": []}
    gcol: list[object] = []
    for g, part in parts:
        values = _score_one(_trec_order_dicts(part, set(qd)), qd, measures)
        for q in queries:
            for m in measures:
                rows["query_id"].append(q)
                rows["measure"].append(str(m))
                rows["value"].append(values.get((q, m), float(m.DEFAULT)))
                gcol.append(g)
    table = pa.table(
        {
            "query_id": pa.array(rows["query_id"], pa.string()),
            "measure": pa.array(rows["measure"], pa.string()),
            "value": pa.array(rows["value"], pa.float64()),
        }
    )
    if group is not None:
        table = table.append_column(group, pa.array(gcol, run.schema.field(group).type))
    return table


class FallbackScorer(Scorer):
    """Every measure an installed ir-measures provider computes (not its runtime provider: a user's measures
    come through workbench.scoring.runtime), fed the run in trec_eval order."""

    name = "ir_measures"
    version = ir_measures.__version__
    trusted = True
    examples = ("Bpref", "Rprec", "Rprec(rel=2)", "infAP", "SetP", "SetR", "SetF", "NumQ", "ERR@10",
                "nDCG(dcg='exp-log2')@10", "nDCG(judged_only=True)@10", "RR(judged_only=True)@5", "Compat(p=0.8)")

    def __reduce__(self) -> str:
        return "SCORER"  # unpickled (a Ray worker) as this module's one instance

    def supports(self, m: Measure) -> bool:
        return supports(m)

    def evaluator_id(self, m: Measure) -> str:
        return evaluator_id(m)

    def evaluate(self, run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *,
                 group: str | None = None) -> pa.Table:
        return evaluate(run, qrels, measures, group=group)


SCORER = FallbackScorer()
