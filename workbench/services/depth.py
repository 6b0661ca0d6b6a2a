"""Depth studies of stored runs: how a reranker's effectiveness changes as it re-scores a first stage's top k.

Reads what a study needs from the store (the first stage and reranked runs where they lie, the qrels, the observed
runs at other depths) and runs the analyses of workbench.analysis.depth; the CLI (`workbench depth`), the
dashboard and the notebook API call this.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis import depth_curve, judged_summary, phantom_hits, significance_table
from workbench.analysis.checks import check_alpha, check_count, check_seed
from workbench.analysis.cutoff import curve_from_scores, cutoff_measures
from workbench.analysis.depth import (
    DEFAULT_COST_UNIT,
    DEFAULT_GAIN_SHARE,
    RankedRows,
    RerankCost,
    RerankPair,
    check_cost,
    check_gain_share,
    max_cutoff,
    rerank_pair,
    smallest_depth,
    unjudged_relevant_curve,
)
from workbench.analysis.stats import significance_legend
from workbench.errors import AnalysisError
from workbench.export.formats import DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS
from workbench.io import _yaml
from workbench.model import RunInfo
from workbench.numbers import DECIMAL_TEXT
from workbench.scoring import evaluate_ranked, named_measures, ranked_plan
from workbench.scoring.judgments import UNJUDGED_RELEVANT
from workbench.services.evaluate import named_qrels, resolve_measures
from workbench.store import (
    Store,
    get_collection,
    get_qrels,
    get_run,
    get_run_rows,
    judged_ranks_of,
    judged_top_ranks,
    list_runs,
    top_run_rows,
)

if TYPE_CHECKING:
    from workbench.analysis.depth import DepthCurve, SmallestDepth
    from workbench.analysis.stats import SignificanceTable

_AT_DEPTH = re.compile(r"@\d+$")



def reranker_family(name: str) -> str:
    """`bm25__rankvicuna-7b@100` -> `bm25__rankvicuna-7b`: runs of one reranker at several depths."""
    return _AT_DEPTH.sub("", name)


def observed_depth_runs(runs: Sequence[RunInfo], reranked: RunInfo, first_stage: str) -> dict[int, str]:
    """Other stored runs of the same reranker over the same first stage at other depths (by name and metadata)."""
    out = {}
    for r in runs:
        if r.name == reranked.name or r.parent != first_stage or r.depth is None:
            continue
        if reranker_family(r.name) == reranker_family(reranked.name):
            out[int(r.depth)] = r.name
    return out


COST_KEY = "cost_per_doc"
"""The top-level key of a run's ir_metadata header that states what reranking one document cost (a number)."""
COST_UNIT_KEY = "cost_unit"
"""The key naming its unit (default DEFAULT_COST_UNIT, seconds of reranker time per document)."""


def stated_cost(info: RunInfo) -> RerankCost | None:
    """The rerank cost per document a run's ir_metadata header states (`cost_per_doc`, `cost_unit`), or None when
    it states none (no header, not YAML, or no such key). A stated value that is not a finite number >= 0 (or a
    unit that is not one line of text) is an error: a cost the user wrote is not silently dropped."""
    import yaml


    try:
        header = _yaml.safe_load(info.metadata_header) if info.metadata_header else None
    except yaml.YAMLError:  # ingest warned about it already
        return None
    if not isinstance(header, dict) or COST_KEY not in header:
        return None
    where = f"run {info.name!r}: its ir_metadata header's {COST_KEY}"
    value = header[COST_KEY]
    if isinstance(value, str) and DECIMAL_TEXT.fullmatch(value.strip()):  # YAML 1.1 reads 1e-3 as a string
        value = float(value)
    unit = header.get(COST_UNIT_KEY, DEFAULT_COST_UNIT)
    return RerankCost(check_cost(value, where), check_unit(unit, f"run {info.name!r}: its ir_metadata header's "
                                                                 f"{COST_UNIT_KEY}"), f"ir_metadata of {info.name}")


def check_unit(unit: object, where: str = "the cost unit") -> str:
    """A unit of cost: non-empty text on one line (it is printed beside every cost)."""
    if not isinstance(unit, str) or not unit.strip() or any(ord(c) < 32 or ord(c) == 127 for c in unit):
        raise AnalysisError(f"{where} must be a non-empty name on one line (s, GPU-s, USD), got {unit!r}")
    return unit.strip()


@dataclass(frozen=True)
class BestDepth:
    """What a depth study recommends for one measure.

    `depth` is the derived depth with the highest mean among those significantly better than the first stage
    (adjusted p below alpha, mean above depth 0's), or None when no depth is. The numbers describe `depth`, or
    when it is None the deeper depth with the highest mean (`shown`; None too when the grid has no depth > 0):
    its mean, its difference from the first stage with that difference's bootstrap CI, and its adjusted p.
    """

    measure: str
    depth: int | None
    shown: int | None
    highest: int | None  # the derived depth > 0 with the highest mean, significant or not
    mean: float
    first_stage_mean: float
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    p_adjusted: float | None

    def sentence(self, first_stage: str) -> str:
        if self.shown is None:
            return f"no depth above 0 in the grid for {self.measure}"
        numbers = (f"{self.mean:.4f}, {self.delta:+.4f} over {first_stage} ({self.confidence:.0%} CI "
                   f"[{self.ci_low:+.4f}, {self.ci_high:+.4f}]"
                   + ("" if self.p_adjusted is None else f", adjusted p {self.p_adjusted:.3g}") + ")")
        if self.depth is not None:
            other = (f"; k = {self.highest} has a higher mean but is not significantly better"
                     if self.highest is not None and self.highest != self.depth else "")
            return f"best k = {self.depth} for {self.measure}: {numbers}{other}"
        return (f"no depth is significantly better than {first_stage} (k = 0) on {self.measure}; the highest mean "
                f"is at k = {self.shown}: {numbers}")


@dataclass(frozen=True)
class DepthStudy:
    first_stage: str
    reranked: str
    curve: DepthCurve
    observed_runs: dict[int, str]
    significance: SignificanceTable  # every depth (derived and observed) vs depth 0 (the first stage)
    phantom_hits: pd.DataFrame
    clipped: tuple[int, ...] = ()  # depths asked for above `depth_limit`: not scored, not in the correction
    depth_limit: int | None = None  # R's declared rerank depth (else the deepest position R reordered)
    names: dict[str, str] = field(default_factory=dict)
    """canonical -> the name the user asked for (`nDCG@10` -> `ndcg_cut_10`), where they differ: the curve and
    the tests compute under canonical names; table(), best(), to_dict() and the CLI show these."""
    qrels: str | None = None  # the named qrels set the study scored against (None: the collection's own)
    qrels_hash: str | None = None  # its content hash (set with `qrels`)
    gain_share: float | None = None  # the cost-aware report (smallest()) when set, with `cost` when known
    cost: RerankCost | None = None
    bounds: pd.DataFrame | None = None
    """measure (canonical), depth, value: each derived depth with its unjudged documents relevant at the top grade
    (the other end of the bounds; None unless asked for)."""

    def shown(self, measure: str) -> str:
        """The name a measure of the curve is shown under (its canonical name when none was asked for)."""
        return self.names.get(measure, measure)

    @property
    def measures(self) -> tuple[str, ...]:
        """The curve's measures under the names asked for."""
        return tuple(map(self.shown, self.curve.measures))

    @property
    def judged_measure(self) -> str:
        return self.shown(self.curve.judged_measure)

    @property
    def note(self) -> str | None:
        """Why the clipped depths are missing (None when none are)."""
        if not self.clipped:
            return None
        return (f"depths {', '.join(map(str, self.clipped))} are above {self.reranked}'s rerank depth "
                f"{self.depth_limit}: a run derived there equals {self.reranked} itself, so they are not scored and "
                "not counted in the multiple-testing correction")

    def table(self) -> pd.DataFrame:
        """measure, depth, source, mean, ci_low, ci_high, the difference's CI (delta_ci_low, delta_ci_high),
        p_value and p_adjusted vs the first stage, significant, Judged@k beside it."""
        frame = self.curve.to_frame()
        sig = self.significance.to_frame()
        sig = sig.assign(depth=sig["run"].str.extract(r"@(\d+)$")[0].astype(int),
                         source=sig["run"].str.extract(r"^(\w+)@")[0])
        frame = frame.merge(sig[["measure", "depth", "source", "p_value", "p_adjusted", "significant"]],
                            on=["measure", "depth", "source"], how="left")
        judged = frame[frame["measure"] == self.curve.judged_measure][["depth", "source", "mean"]]
        frame = frame.merge(judged.rename(columns={"mean": self.judged_measure}), on=["depth", "source"],
                            how="left")
        if self.names:
            frame["measure"] = frame["measure"].map(self.shown)
        return frame.sort_values(["measure", "source", "depth"]).reset_index(drop=True)

    def best(self) -> dict[str, BestDepth]:
        """{measure (as asked for): BestDepth}: a depth is called best only when it is significantly better than
        depth 0."""
        rows = {(r.measure, r.run): r for r in self.significance.rows}
        out = {}
        for m in self.curve.measures:
            points = {p.depth: p for p in self.curve.points if p.measure == m}
            first = points.get(0)
            base = first.mean if first is not None else float("nan")
            deeper = sorted((k for k in points if k > 0), key=lambda k: (-points[k].mean, k))
            better = [k for k in deeper if (r := rows.get((m, f"derived@{k}"))) is not None and r.significant
                      and points[k].mean > base]
            depth = better[0] if better else None
            shown = depth if depth is not None else (deeper[0] if deeper else None)
            p = points.get(shown) if shown is not None else None
            row = rows.get((m, f"derived@{shown}"))
            name = self.shown(m)
            out[name] = BestDepth(name, depth, shown, deeper[0] if deeper else None, p.mean if p else float("nan"),
                                  base, p.mean - base if p else float("nan"), p.delta_ci_low if p else float("nan"),
                                  p.delta_ci_high if p else float("nan"), self.curve.confidence,
                                  None if row is None else float(row.p_adjusted))
        return out

    def smallest(self) -> dict[str, SmallestDepth]:
        """{measure (as asked for): the smallest depth reaching `gain_share` of the largest gain, with its
        interval and `cost`} ({} unless the study has a gain share)."""

        if self.gain_share is None:
            return {}
        rows = {(r.measure, r.run): r for r in self.significance.rows}
        out = {}
        for m in self.curve.measures:
            s = smallest_depth(self.curve, m, self.gain_share, self.cost)
            row = rows.get((m, f"derived@{s.depth}")) if s.depth is not None else None
            out[self.shown(m)] = replace(s, measure=self.shown(m),
                                         p_adjusted=None if row is None else float(row.p_adjusted),
                                         significant=None if row is None else bool(row.significant))
        return out

    def bound(self, measure: str, depth: int) -> float | None:
        """The derived `depth`'s value of `measure` (as asked for) with unjudged documents relevant (None without
        bounds)."""
        if self.bounds is None:
            return None
        canonical = {v: k for k, v in self.names.items()}.get(measure, measure)
        hit = self.bounds[(self.bounds["measure"] == canonical) & (self.bounds["depth"] == depth)]
        return float(hit["value"].iloc[0]) if len(hit) else None

    def legend(self) -> str:
        """The tests' and CIs' settings in one sentence each."""

        s = self.significance
        return (f"{significance_legend(s.test, s.n_resamples, s.correction, s.alpha, len(s.rows))} Each depth and "
                f"observed run against the first stage ({self.first_stage}, depth 0). CIs: "
                f"{self.curve.confidence:.0%} percentile bootstrap over {len(self.curve.query_ids):,} queries "
                f"({self.curve.n_boot:,} samples, seed {self.curve.seed}), not adjusted for multiple comparisons.")

    def to_dict(self) -> dict:
        """JSON: measures under the names asked for, each with `canonical` (ir-measures' spelling) beside it
        where the two differ."""
        judged = self.judged_measure
        rows = [
            {"measure": r["measure"], **self._canonical(r["measure"]), "depth": int(r["depth"]),
             "source": r["source"], "value": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
             "delta_ci_low": _f(r["delta_ci_low"]), "delta_ci_high": _f(r["delta_ci_high"]),
             "p_value": _f(r["p_value"]), "p_adjusted": _f(r["p_adjusted"]),
             "significant": None if pd.isna(r["significant"]) else bool(r["significant"]), "judged": _f(r[judged]),
             **({} if self.bounds is None else {"unjudged_relevant": self.bound(r["measure"], int(r["depth"]))
                                                if r["source"] == "derived" else None})}
            for r in self.table().to_dict(orient="records")
        ]
        best = self.best()
        return {
            **({"qrels": self.qrels, "qrels_hash": self.qrels_hash} if self.qrels else {}),
            "first_stage": self.first_stage, "reranked": self.reranked, "k_max": self.curve.k_max,
            "judged_measure": judged,
            "best_depth": {m: b.depth for m, b in best.items()},
            "best": {m: {"measure": m, **self._canonical(m),
                         **{k: _f(v) if isinstance(v, float) else v for k, v in vars(b).items() if k != "measure"}}
                     for m, b in best.items()},
            "highest_mean_depth": {self.shown(m): k for m, k in self.curve.best_depth},
            "observed_runs": {str(k): v for k, v in self.observed_runs.items()},
            "test": self.significance.test, "correction": self.significance.correction,
            "alpha": self.significance.alpha, "permutations": self.significance.n_resamples
            if self.significance.test == "randomisation" else None,
            "bootstrap_samples": self.curve.n_boot, "seed": self.curve.seed, "legend": self.legend(),
            "points": rows, "phantom_hits": self.phantom_hits.to_dict(orient="records"),
            "depth_limit": self.depth_limit, "clipped_depths": list(self.clipped), "note": self.note,
            **self._cost_aware(), **({} if self.bounds is None else {"bounds_semantics": UNJUDGED_RELEVANT}),
        }

    def _cost_aware(self) -> dict:
        """The cost-aware keys of to_dict, only when the study has a gain share."""
        if self.gain_share is None:
            return {}
        return {"gain_share": self.gain_share, "cost": None if self.cost is None else vars(self.cost),
                "smallest_depth": {m: s.to_dict() for m, s in self.smallest().items()}}

    def _canonical(self, shown: str) -> dict[str, str]:
        """{"canonical": ir-measures' spelling} of a measure shown under another name, else {}."""
        canonical = {v: k for k, v in self.names.items()}.get(shown)
        return {} if canonical is None else {"canonical": canonical}


def _f(v):
    return None if v is None or pd.isna(v) else float(v)


def depth_plan(store: Store, collection: str, reranked: str, measures: Sequence[str], *,
               first_stage: str | None = None,
               observed: Sequence[str] | None = None) -> tuple[str, list[str], dict[int, str]]:
    """What a depth study of `reranked` compares: (first stage, measure names, {depth: observed run}).

    The first stage defaults to the run's stored parent; observed runs (None: discover) default to the stored
    runs of the same reranker over the same first stage at other depths; `reranked` itself is always observed at
    its declared depth.
    """

    rinfo = get_run(store, collection, reranked)
    first_stage = first_stage or rinfo.parent
    if not first_stage:
        raise AnalysisError(f"run {reranked!r} has no stored parent; give the first stage with --first-stage")
    get_run(store, collection, first_stage)
    measure_names = resolve_measures(store, collection, measures)
    if observed is not None:
        obs_names = {int(get_run(store, collection, n).depth or 0): n for n in observed}
    else:
        obs_names = observed_depth_runs(list_runs(store, collection), rinfo, first_stage)
    if rinfo.depth:
        obs_names.setdefault(int(rinfo.depth), reranked)
    return first_stage, measure_names, obs_names


def depth_study(store: Store, collection: str, reranked: str, measures: Sequence[str], *,
                first_stage: str | None = None, depths: Sequence[int] | None = None,
                observed: Sequence[str] | None = None, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                test: str = "t", correction: str = "holm", alpha: float = 0.05, phantom_k: int = 10,
                n_resamples: int = DEFAULT_PERMUTATIONS, qrels: str | None = None, bounds: bool = False,
                gain_share: float | None = None, cost_per_doc: float | None = None,
                cost_unit: str | None = None) -> DepthStudy:
    """Depth scaling of a reranker: the derived curve, observed real runs at other depths, tests vs depth 0
    (`n_resamples`: the randomisation test's permutations; `n_boot`: the CIs' bootstrap samples).

    `qrels`: a named qrels set of the collection (None or "default": its own). `bounds`: each derived depth also
    scored with its unjudged documents relevant at the top grade (as `leaderboard --bounds`). The cost-aware
    report (DepthStudy.smallest) is on when `gain_share` or `cost_per_doc` is given or R's ir_metadata header
    states a cost (`stated_cost`); `cost_per_doc` (in `cost_unit`, default seconds) wins over the header's."""

    _check_study_options(n_boot, seed, alpha, phantom_k)
    share, cost = _cost_options(gain_share, cost_per_doc, cost_unit)
    if cost is None and cost_per_doc is None:
        cost = stated_cost(get_run(store, collection, reranked))
    share = DEFAULT_GAIN_SHARE if share is None and cost is not None else share
    with _study_inputs(store, collection, reranked, measures, first_stage=first_stage, observed=observed,
                       phantom_k=phantom_k, qrels=qrels) as s:
        study = study_pair(s.first_stage, reranked, s.first, s.rer, s.qrels, s.measures, s.observed,
                           s.observed_rows, depths=depths, n_boot=n_boot, seed=seed, test=test,
                           correction=correction, alpha=alpha, phantom_k=phantom_k, pair=s.pair, stored_qrels=True,
                           n_resamples=n_resamples, declared_depth=s.declared_depth, bounds=bounds)
    # computed under canonical names (the store's keys); shown under the names asked for (`ndcg_cut.10`)
    names = {nm.canonical: nm.name for nm in named_measures(list(measures)) if nm.name != nm.canonical}
    return replace(study, names=names, qrels=s.qrels_name, qrels_hash=s.qrels_hash if s.qrels_name else None,
                   gain_share=share, cost=cost)


def _cost_options(gain_share: float | None, cost_per_doc: float | None,
                  cost_unit: str | None) -> tuple[float | None, RerankCost | None]:
    """(gain share, cost) of the options, checked before anything is read."""
    share = None if gain_share is None else check_gain_share(gain_share)
    if cost_per_doc is None:
        if cost_unit is not None:
            raise AnalysisError("a cost unit names the unit of a cost per document: give the cost too")
        return share, None
    cost = RerankCost(check_cost(cost_per_doc), check_unit(DEFAULT_COST_UNIT if cost_unit is None else cost_unit))
    return DEFAULT_GAIN_SHARE if share is None else share, cost


def depth_cut(measures: Sequence[str], declared_depth: int | None, phantom_k: int) -> int | None:
    """How many documents per query of F and R a depth study reads: R's declared depth or the deepest cutoff.

    None when a measure has no cutoff (AP, ...) or R has no declared depth: then whole runs are needed. R at
    depth k differs from F only in F's top k <= K, and every measure looks at most `cutoff` deep, so the first
    max(K, cutoff) documents of both runs give exactly the numbers whole runs give.
    """
    cutoff = max_cutoff(list(measures))
    if cutoff is None or not declared_depth:
        return None
    return max(int(declared_depth), cutoff, phantom_k)


def depth_study_judged(store: Store, collection: str, reranked: str, measures: Sequence[str], *,
                       observed: Sequence[str] | None = None, judged_k: int = 10,
                       n_boot: int = DEFAULT_BOOTSTRAP,
                       cutoff_curve: tuple[str, Sequence[int], int | None] | None = None,
                       qrels: str | None = None, bounds: bool = False):
    """`depth_study` (what `workbench depth` prints) and the Judged@k summary over the same F-R join, and the
    metric-at-cutoff curves (family, cutoffs, rel) of F, R and the observed runs when asked and that join reaches
    max(cutoffs): (DepthStudy, JudgedSummary, {run: CutoffCurve} or None). `qrels`, `bounds`: as depth_study's
    (the dashboard's qrels selector passes its set here). The study carries no gain share: the caller applies
    one (DepthStudy.smallest after dataclasses.replace) without computing the study again."""

    with _study_inputs(store, collection, reranked, measures, observed=observed, phantom_k=judged_k,
                       qrels=qrels) as s, \
            ThreadPoolExecutor(max_workers=1) as pool:
        curves = None
        if cutoff_curve is not None and s.ranked and s.cut is not None \
                and max(cutoff_curve[1]) <= s.cut:  # numpy on the other core
            curves = pool.submit(_joined_cutoff_curves, s, *cutoff_curve)
        study = study_pair(s.first_stage, reranked, s.first, s.rer, s.qrels, s.measures, s.observed, s.observed_rows,
                           n_boot=n_boot, phantom_k=judged_k, pair=s.pair, stored_qrels=True,
                           declared_depth=s.declared_depth, bounds=bounds)
        study = replace(study, qrels=s.qrels_name, qrels_hash=s.qrels_hash if s.qrels_name else None)
        curve = study.curve
        judged = judged_summary(s.first, s.rer, s.qrels, k=judged_k, depths=list(curve.depths), pair=s.pair,
                                judged={p.depth: p.mean for p in curve.points if p.measure == curve.judged_measure})
    return study, judged, None if curves is None else curves.result()


def _joined_cutoff_curves(s: _StudyInputs, family: str, cutoffs: Sequence[int], rel: int | None) -> dict:
    """stored_cutoff_curves of F, R and the observed runs, from the judged ranks the study read (down to its cut)."""

    judged = pa.concat_tables([pa.table({"query_id": r.judged["query_id"], "rank": r.judged["rank"].cast(pa.int64()),
                                         "relevance": r.judged["relevance"].cast(pa.int64()),
                                         "run": pa.array([name] * r.judged.num_rows, pa.string())})
                               for name, r in s.ranked.items()])
    return _cutoff_curves(judged, s.qrels, family, cutoffs, rel, {name: name for name in s.ranked}, "run")


@dataclass(frozen=True)
class _StudyInputs:
    first_stage: str
    measures: list[str]
    observed: dict[int, str]
    qrels: object  # pa.Table
    pair: RerankPair
    observed_rows: dict  # depth -> pa.Table
    first: object = None  # pa.Table of F's rows when read whole, else None (the pair holds the join)
    rer: object = None
    cut: int | None = None  # the rank down to which F and R were joined in the store (None: read whole)
    ranked: dict = field(default_factory=dict)  # run -> RankedRows down to `cut`, when joined in the store
    declared_depth: int | None = None  # R's stored rerank depth
    qrels_name: str | None = None  # the named qrels set read (None: the collection's own)
    qrels_hash: str | None = None


def study_qrels(store: Store, collection: str, qrels: str | None, *, ordered: bool = True):
    """(set name or None, qrels hash, judgments) of the qrels a study scores against: a named set of the collection
    (resolved as every scoring command resolves `--qrels`), else its own."""

    name, qrels_hash, table = named_qrels(store, get_collection(store, collection), qrels)
    return name, qrels_hash, table if table is not None else get_qrels(store, collection, ordered=ordered)


@contextmanager
def _study_inputs(store: Store, collection: str, reranked: str, measures: Sequence[str], *,
                  first_stage: str | None = None, observed: Sequence[str] | None = None,
                  phantom_k: int = 10, qrels: str | None = None) -> Iterator[_StudyInputs]:
    """What a depth study reads, reading only what it needs.

    With cutoff measures and a declared rerank depth (see depth_cut) only F's and R's rows down to that cut are
    read (by their stored positions) and joined, and the observed runs' judged ranks (or top `cutoff` rows) down
    to it; otherwise whole runs are read and joined. `qrels`: a named qrels set (the store's judged ranks of the
    observed runs are joined with the collection's own qrels, so with a set their top rows are read instead).
    """

    with store.reading(), ExitStack() as stack:
        info = get_run(store, collection, reranked)
        first_stage, names, obs = depth_plan(store, collection, reranked, list(measures), first_stage=first_stage,
                                             observed=observed)
        with_judged = [*names, f"Judged@{phantom_k}"]
        cut = depth_cut(with_judged, info.depth, phantom_k)
        qrels_name, qrels_hash, judgments = study_qrels(store, collection, qrels, ordered=cut is None)
        named = {"qrels_name": qrels_name, "qrels_hash": qrels_hash}
        if cut is None:
            with_position = ("query_id", "doc_id", "score", "rank", "position")  # trec_eval order as stored
            first = get_run_rows(store, collection, first_stage, with_position)
            rer = get_run_rows(store, collection, reranked, with_position)
            pair = stack.enter_context(RerankPair(first, rer))
            rows = {k: rer if n == reranked else get_run_rows(store, collection, n) for k, n in obs.items() if k > 0}
            yield _StudyInputs(first_stage, names, obs, judgments, pair, rows, first, rer, declared_depth=info.depth,
                               **named)
            return
        others = [n for k, n in obs.items() if k > 0 and n != reranked]
        ranked_scoring = ranked_plan(with_judged) is not None and qrels_name is None
        qrels = judgments  # unordered unless a named set: what reads them does not depend on their order
        first_top, rer_top = (top_run_rows(store, collection, n, cut) for n in (first_stage, reranked))
        with ThreadPoolExecutor(max_workers=1) as pool:  # join F and R (a private connection) on the other core
            joining = pool.submit(RerankPair, first_top, rer_top, qrels)
            try:  # the other observed runs: their judged ranks from the store (ranked scoring), else their rows
                if ranked_scoring:
                    ranked = {n: RankedRows(*judged_top_ranks(store, collection, get_run(store, collection, n).run_hash,
                                                              cut)) for n in others}
                else:
                    obs_cut = max_cutoff(with_judged)
                    tops = {n: top_run_rows(store, collection, n, obs_cut).select(["query_id", "doc_id", "score"])
                            for n in others}
            except BaseException:
                with suppress(Exception):
                    joining.result().close()
                raise
            pair = stack.enter_context(joining.result())
        del first_top, rer_top  # the pair holds the join; the analyses given it read only the pair
        if not ranked_scoring:  # a cutoff measure the ranked scoring does not serve: rows
            assert obs_cut is not None  # a cut: every measure has a cutoff (depth_cut)
            rows = {k: pair.reranked_top(obs_cut) if n == reranked else tops[n] for k, n in obs.items() if k > 0}
            yield _StudyInputs(first_stage, names, obs, qrels, pair, rows, cut=cut, declared_depth=info.depth, **named)
            return
        # every run as its judged ranks down to the cut: the observed points and the cutoff curves score these
        ranked = dict(zip((first_stage, reranked), pair.ranked_runs(qrels, cut), strict=True)) | ranked
        rows = {k: ranked[n] for k, n in obs.items() if k > 0}
        yield _StudyInputs(first_stage, names, obs, qrels, pair, rows, cut=cut, ranked=ranked,
                           declared_depth=info.depth, **named)


def study_pair(first_stage: str, reranked: str, first, rer, qrels, measures: Sequence[str],
               observed_names: dict[int, str], observed_rows: dict, *, depths: Sequence[int] | None = None,
               n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, test: str = "t", correction: str = "holm",
               alpha: float = 0.05, phantom_k: int = 10, pair=None, stored_qrels: bool = False,
               n_resamples: int = DEFAULT_PERMUTATIONS, declared_depth: int | None = None,
               bounds: bool = False) -> DepthStudy:
    """depth_study on rows already read: the curve, tests vs depth 0 and phantom hits over one F-R join
    (`pair`, a RerankPair of `first` and `rer`, when the caller shares it with more analyses). `stored_qrels`:
    the qrels were read from the store (not checked again for repeated judgments).

    Depths asked for above R's rerank depth (`declared_depth`, else the deepest position where R's order differs
    from F's) are clipped: the run derived there is R itself, so scoring it would repeat R's point and count it
    again in the multiple-testing correction. They are left out of the curve and the tests and named in the
    study's `clipped` and `note`. `bounds`: each derived depth also scored with its unjudged documents relevant at
    the top grade (the study's `bounds`)."""

    _check_study_options(n_boot, seed, alpha, phantom_k)
    with rerank_pair(first, rer, pair) as p:
        limit = int(declared_depth) if declared_depth else int(p.k_max)
        clipped = tuple(sorted({int(d) for d in depths if int(d) > limit})) if depths is not None else ()
        if depths is not None:
            depths = [d for d in depths if int(d) <= limit]
            if not depths:
                raise AnalysisError(f"every depth asked for is above {reranked}'s rerank depth {limit}; ask for "
                                    f"depths up to {limit}")
        curve = depth_curve(first, rer, qrels, measures, depths=depths, n_boot=n_boot, seed=seed,
                            observed=observed_rows, pair=p, stored_qrels=stored_qrels)
        hits = (phantom_hits(first, rer, qrels, k=phantom_k, depth=curve.k_max, pair=p) if curve.k_max > 0
                else pd.DataFrame())
        high = (unjudged_relevant_curve(p, curve.depths, qrels, curve.measures, curve.query_ids) if bounds
                else None)
    others = sorted({f"{p.source}@{p.depth}" for p in (*curve.points, *curve.observed)} - {"derived@0"})
    names = ["derived@0", *others]
    # p-values only: the differences' CIs come with the curve, from its own resamples (delta_ci_low/high)
    sig = significance_table(None, ["derived@0"], others, list(curve.measures), test=test, correction=correction,
                             alpha=alpha, seed=seed, n_resamples=n_resamples, delta_ci=False,
                             matrices=[curve.matrix(m, names) for m in curve.measures])
    return DepthStudy(first_stage, reranked, curve, observed_names, sig, hits, clipped, limit, bounds=high)


def _check_study_options(n_boot: int, seed: int, alpha: float, phantom_k: int) -> None:
    check_count("n_boot", n_boot, 1)
    check_count("phantom_k", phantom_k, 1)
    check_alpha(alpha)
    check_seed(seed)


def stored_cutoff_curves(store: Store, collection: str, runs: Sequence[str], family: str, cutoffs: Sequence[int],
                         rel: int | None = None, qrels: str | None = None) -> dict:
    """`cutoff_curve` of each stored run ({name: CutoffCurve}), scored from its judged rows' stored positions
    down to max(cutoffs), joined with the qrels in one DuckDB query: the same values, without reading the rows.
    With `qrels`, a named set of the collection, each run's top max(cutoffs) rows are read and joined with it."""
    with store.reading():
        hashes = {name: get_run(store, collection, name).run_hash for name in runs}
        name, _, judgments = study_qrels(store, collection, qrels, ordered=False)
        if name is None:
            judged = judged_ranks_of(store, collection, list(dict.fromkeys(hashes.values())), max(cutoffs))
        else:
            judged = _judged_ranks(store, collection, hashes, max(cutoffs), judgments)
    return _cutoff_curves(judged, judgments, family, cutoffs, rel, hashes, "run_hash")


def _judged_ranks(store: Store, collection: str, hashes: dict[str, str], cut: int, qrels) -> object:
    """(run_hash, query_id, rank, relevance) of each run's judged rows among its top `cut` (stored positions),
    judged by `qrels`: what judged_ranks_of gives with the collection's own qrels."""

    parts = []
    for run_hash, name in {h: n for n, h in hashes.items()}.items():  # a run stored under two names: read once
        top = top_run_rows(store, collection, name, cut)
        joined = top.select(["query_id", "doc_id", "position"]).join(qrels, keys=["query_id", "doc_id"],
                                                                     join_type="inner", use_threads=False)
        parts.append(pa.table({"run_hash": pa.array([run_hash] * joined.num_rows, pa.string()),
                               "query_id": joined["query_id"], "rank": joined["position"].cast(pa.int64()),
                               "relevance": joined["relevance"].cast(pa.int64())}))
    return pa.concat_tables(parts)


def _cutoff_curves(judged, qrels, family: str, cutoffs: Sequence[int], rel: int | None, keys: dict[str, str],
                   column: str) -> dict:
    """{name: CutoffCurve} from judged ranks of several runs told apart by `column` (keys: name -> its value)."""

    measures = cutoff_measures(family, cutoffs, rel)  # type: ignore[arg-type]
    scores = evaluate_ranked(judged, None, qrels, measures, stored_qrels=True, group=column,
                             groups=pa.array(list(keys.values()), pa.string()))
    return {name: curve_from_scores(family, rel, measures, scores.filter(pc.equal(scores[column], key)))  # type: ignore[arg-type]
            for name, key in keys.items()}
