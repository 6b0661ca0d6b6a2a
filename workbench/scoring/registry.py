"""The scorer registry: one ordered list of scorers, read by everything that scores.

    fast (vectorised, trec_eval-exact) -> iprec (trec_eval 10's IPrec) -> runtime (a user's ir_measures.define
    measures) -> ir_measures (every installed provider) -> plugins (entry points of group `workbench.scorers`)

Each measure goes to the first scorer whose `supports(m)` declares it computes `m` exactly. The plugins come last
and are read only when no built-in scorer serves a measure (or a measure name is unknown to ir-measures and the
user's files), so a plugin adds measures but can never change the value of one the workbench already computes, and
`import workbench.scoring` reads no entry point. Outputs of every scorer but the built-ins are checked (columns,
each judged query once per measure, finite values) and their exceptions become one-line ScorerErrors naming them.

A `Scorers` is a value: immutable and picklable (the runtime scorer carries its files' bytes), so a Ray task
given the driver's `current()` scores exactly as the driver would, one run or one block of queries at a time.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure

from workbench.env import env_text
from workbench.errors import ProviderUnavailableError, WorkbenchError
from workbench.plugins import Plugin, one_line, plugins
from workbench.scoring import fallback, fast, iprec
from workbench.scoring.base import RankedPlan, RankedScoring, Scorer, ScorerError
from workbench.scoring.inputs import normalise, normalise_qrels
from workbench.scoring.measures import parse_measures

if TYPE_CHECKING:  # runtime.py is imported when a user's measures are: `import workbench.scoring` stays lean
    from workbench.scoring.runtime import RuntimeScorer

__all__ = ["GROUP", "Scorers", "builtin", "current", "parse_added", "refresh", "use_measures"]

GROUP = "workbench.scorers"
"""The entry point group third-party scorers register under (see docs/scorers.md)."""


class Scorers:
    """An ordered list of scorers; each measure goes to the first that supports it, then to the plugins."""

    def __init__(self, scorers: Sequence[Scorer], *, plugins: bool = True) -> None:
        self.scorers = tuple(scorers)
        self.plugins = plugins
        self._routes: dict[str, Scorer] = {}

    def __getstate__(self) -> dict:
        return {"scorers": self.scorers, "plugins": self.plugins}  # plugins are read again where unpickled

    def __setstate__(self, state: dict) -> None:
        Scorers.__init__(self, state["scorers"], plugins=state["plugins"])

    def __repr__(self) -> str:
        return f"Scorers({', '.join(s.name for s in self.scorers)}{', plugins' if self.plugins else ''})"

    # ---- the list ---------------------------------------------------------------------------------------------

    def runtime(self) -> RuntimeScorer | None:
        """The scorer of the user's measures files, if any (the only scorer named "runtime")."""
        return next((s for s in self.scorers if s.name == "runtime"), None)  # type: ignore[return-value]

    def with_measures(self, paths: Sequence[str | os.PathLike]) -> Scorers:
        """These scorers with the runtime measures of `paths` added (read and checked now)."""
        from workbench.scoring.runtime import RuntimeScorer, read_source  # cycle: runtime imports the registry

        runtime = self.runtime()
        added = (runtime or RuntimeScorer()).with_sources([read_source(p) for p in paths])
        if runtime is None:
            at = next((i for i, s in enumerate(self.scorers) if s is fallback.SCORER), len(self.scorers))
            return Scorers((*self.scorers[:at], added, *self.scorers[at:]), plugins=self.plugins)
        return Scorers(tuple(added if s is runtime else s for s in self.scorers), plugins=self.plugins)

    def plugin_scorers(self) -> tuple[Scorer, ...]:
        """The scorers of the `workbench.scorers` entry points that loaded (read on first call)."""
        return _plugin_scorers()[0] if self.plugins else ()

    def plugin_failures(self) -> tuple[Plugin, ...]:
        return _plugin_scorers()[1] if self.plugins else ()

    def all(self) -> tuple[Scorer, ...]:
        """Every scorer, plugins included (reads the entry points)."""
        return self.scorers + self.plugin_scorers()

    # ---- routing ------------------------------------------------------------------------------------------------

    def scorer_for(self, m: Measure) -> Scorer:
        """The first scorer that declares it computes `m` exactly; ProviderUnavailableError when none does."""
        key = str(m)
        scorer = self._routes.get(key)
        if scorer is None:
            scorer = next((s for s in self.scorers if s.supports(m)), None)
            if scorer is None:
                scorer = next((s for s in self.plugin_scorers() if s.supports(m)), None)
            if scorer is None:
                raise self._unserved(m)
            self._routes[key] = scorer
        return scorer

    def _unserved(self, m: Measure) -> WorkbenchError:
        if hasattr(m, "runtime_impl"):
            return WorkbenchError(f"{m} is an ir_measures.define measure that no measures file given defines",
                                  hint="put it in a file and pass it with --custom-measures, custom_measures= or "
                                       "$WORKBENCH_CUSTOM_MEASURES: scores are keyed by the file's content")
        try:
            fallback.route(m)
            error = ProviderUnavailableError(f"no scorer computes {m}")
        except ProviderUnavailableError as exc:
            error = exc
        broken = _broken(self.plugin_failures())
        return ProviderUnavailableError(error.message + broken, hint=error.hint) if broken else error

    def route(self, measures: Sequence[Measure]) -> list[tuple[Scorer, list[Measure]]]:
        """(scorer, its measures) in the registry's order; raises before any work when a measure is unserved."""
        by: dict[int, tuple[Scorer, list[Measure]]] = {}
        for m in measures:
            s = self.scorer_for(m)
            by.setdefault(id(s), (s, []))[1].append(m)
        rank = {id(s): i for i, s in enumerate(self.scorers)}  # plugins (not listed) after, as routed
        return [by[k] for k in sorted(by, key=lambda k: rank.get(k, len(rank)))]

    def evaluator_id(self, measure: Measure | str) -> str:
        """Implementation and versions that serve `measure`, stored with every score."""
        with self.active():
            (m,) = parse_measures([measure])
            return self.scorer_for(m).evaluator_id(m)

    def defined_measure(self, name: str) -> Measure | None:
        """The runtime or plugin measure named `name` (plugins are read only when no file defines it)."""
        runtime = self.runtime()
        if runtime is not None and name in runtime.defined_measures():
            return runtime.defined_measures()[name]
        found = [(s, s.defined_measures()[name]) for s in self.plugin_scorers() if name in _defined(s)]
        if len(found) > 1:
            raise ScorerError(f"measure {name!r} is defined by {' and '.join(s.describe([]) for s, _ in found)}")
        if found:
            return found[0][1]
        broken = _broken(self.plugin_failures())
        if broken:
            raise ScorerError(f"unknown measure {name!r}{broken}")
        return None

    @contextlib.contextmanager
    def active(self) -> Iterator[Scorers]:
        """Make this the registry measure strings are parsed against (runtime and plugin names) meanwhile."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def parse(self, measures: Sequence[Measure | str]) -> list[Measure]:
        with self.active():
            return list(dict.fromkeys(parse_measures(measures)))

    # ---- scoring ------------------------------------------------------------------------------------------------

    def evaluate(self, run: pa.Table, qrels: pa.Table, measures: Sequence[Measure | str], *,
                 group: str | None = None, stored_qrels: bool = False) -> pa.Table:
        """Per-query scores of `run` (query_id, measure, value[, group]) with trec_eval -c semantics.

        Every judged query (in `qrels`) gets a row per measure, 0 when the run misses it (NumRel keeps its
        count); run queries without judgments are dropped. `group` names a run column whose values are scored
        as separate runs in one pass (e.g. `depth` for a depth sweep); it is carried into the output. Rows are
        ordered by group, query_id, then the order of `measures`. To score one block of a run's queries (a Ray
        batch), give the qrels of those queries. `stored_qrels`: as `evaluate_ranked`'s.
        """
        ms = self.parse(measures)
        run_n, qrels_n = normalise(run, qrels, group, check_pairs=not stored_qrels)
        parts = []
        for s, ms_s in self.route(ms):
            parts.append((s, self._call(s, ms_s, qrels_n, group, run_n[group] if group else None,
                                        partial(s.evaluate, run_n, qrels_n, ms_s, group=group))))
        return _merge(parts, ms, group)

    def ranked_plan(self, measures: Sequence[Measure | str]) -> RankedPlan | None:
        """How to score `measures` from stored trec_eval positions; None when one of them needs the whole run
        (its scorer has no ranked capability, or it is served by none)."""
        ms = self.parse(measures)
        try:
            routes = self.route(ms)
        except WorkbenchError:
            return None  # unserved: scoring the whole run reports it
        if not all(isinstance(s, RankedScoring) for s, _ in routes):
            return None
        ranks = [s.max_rank(ms) for s, ms in routes]  # type: ignore[attr-defined]
        return RankedPlan(None if not ranks or None in ranks else max(r for r in ranks if r is not None),
                          any(s.needs_n_ret(ms) for s, ms in routes))  # type: ignore[attr-defined]

    def evaluate_ranked(self, judged: pa.Table, n_ret: pa.Table | None, qrels: pa.Table,
                        measures: Sequence[Measure | str], *, stored_qrels: bool = False, group: str | None = None,
                        groups: pa.Array | None = None) -> pa.Table:
        """`evaluate` of a stored run from its judged rows' trec_eval positions (query_id, rank, relevance).

        The store keeps each row's trec_eval position, so scoring a stored run needs only its judged rows (down
        to the deepest cutoff), joined in SQL: no 7M-row read, layout or tie-break. Only for measures
        `ranked_plan` accepts; same values and output as `evaluate` (tested per query). `stored_qrels`: the qrels
        were read from the store, whose `collection add` refused or collapsed repeated judgments, so they are not
        checked again. `group`/`groups`: several runs scored in one pass (see `fast.evaluate_ranked`).
        """
        ms = self.parse(measures)
        if self.ranked_plan(ms) is None:
            raise WorkbenchError(f"not every measure of {[str(m) for m in ms]} can be scored from stored ranks")
        qrels_n = normalise_qrels(qrels, check_pairs=not stored_qrels)
        gvalues = (groups if groups is not None else judged[group]) if group else None
        parts = []
        for s, ms_s in self.route(ms):
            ranked = cast(RankedScoring, s)  # ranked_plan above: every routed scorer scores stored ranks
            parts.append((s, self._call(s, ms_s, qrels_n, group, gvalues, partial(
                ranked.evaluate_ranked, judged, n_ret, qrels_n, ms_s, group=group, groups=groups))))
        return _merge(parts, ms, group)

    @staticmethod
    def _call(s: Scorer, ms: list[Measure], qrels: pa.Table, group: str | None,
              gvalues: pa.Array | pa.ChunkedArray | None, compute: Callable[[], pa.Table]) -> pa.Table:
        """`compute()`, s's part; for a scorer not built in, its errors named and its output checked against
        the judged queries of `qrels` x `ms` x the group values `gvalues`."""
        if s.trusted:
            return compute()
        try:
            out = compute()
        except WorkbenchError:
            raise
        except (Exception, SystemExit) as exc:  # a user's or plugin's code may raise anything
            raise ScorerError(f"{s.describe(ms)} failed: {one_line(exc)}") from exc
        return _checked(out, s, ms, qrels, group, gvalues)


_ACTIVE: contextvars.ContextVar[Scorers | None] = contextvars.ContextVar("workbench_scorers", default=None)
_PROCESS: Scorers | None = None
_PROCESS_LOCK = threading.Lock()


def builtin() -> Scorers:
    """The built-in scorers and the plugins, without any user measures file."""
    return Scorers((fast.SCORER, iprec.SCORER, fallback.SCORER))


def current() -> Scorers:
    """The registry in use: the one made active (`Scorers.active`), else this process's: the built-in scorers,
    the files given to `use_measures` and those of $WORKBENCH_CUSTOM_MEASURES (read when first needed), plugins."""
    active = _ACTIVE.get()
    if active is not None:
        return active
    global _PROCESS
    with _PROCESS_LOCK:
        if _PROCESS is None:
            _PROCESS = _from_env()
        return _PROCESS


def refresh() -> Scorers:
    """Read again the measures files edited since they were read, for a process that outlives an edit (a
    notebook: each `workbench.open(...)` method calls this first). Never implicit inside an operation: scores are
    stored under the evaluator id computed at its start, which must name the code that computes them."""
    global _PROCESS
    with _PROCESS_LOCK:
        runtime = _PROCESS.runtime() if _PROCESS is not None else None
        if runtime is not None and _PROCESS is not None:
            fresh = runtime.refreshed()
            if fresh is not runtime:
                _PROCESS = Scorers(tuple(fresh if s is runtime else s for s in _PROCESS.scorers),
                                   plugins=_PROCESS.plugins)
    return current()


def _from_env() -> Scorers:
    raw = env_text("WORKBENCH_CUSTOM_MEASURES")  # runtime.ENV, spelled out for tests/test_cli_junk.py's inventory
    paths = [p for p in (raw or "").split(os.pathsep) if p]
    if not paths:
        return builtin()
    from workbench.scoring.runtime import RuntimeScorer  # cycle: runtime imports the registry

    return Scorers((fast.SCORER, iprec.SCORER, RuntimeScorer(pending=paths), fallback.SCORER))


def use_measures(paths: Sequence[str | os.PathLike]) -> Scorers:
    """Add the runtime measures of `paths` to this process's registry (every later command, API call and page
    scores them); returns it. A broken file is a one-line error here (file:line), and nothing is added."""
    global _PROCESS
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    updated = current().with_measures(paths)
    with _PROCESS_LOCK:
        _PROCESS = updated
    return updated


def parse_added(text: str) -> Measure | None:
    """A measure string naming a runtime or plugin measure (`MyLen`, `MyLen@10`, `MyLen(p=1)@10`), or None.

    ir-measures' own syntax (ast, named literal arguments, `@` for the measure's AT_PARAM); the name is looked up
    in `current()`, so in a Ray worker given the driver's registry it resolves to the same measure.
    """
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        return None
    at = None
    kwargs: dict[str, object] = {}
    try:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            at, node = ast.literal_eval(node.right), node.left
        if isinstance(node, ast.Call):
            if node.args or any(k.arg is None for k in node.keywords):
                return None
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
            node = node.func
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(node, ast.Name):
        return None
    base = current().defined_measure(node.id)
    if base is None:
        return None
    if at is not None:
        kwargs[base.AT_PARAM] = at
    return type(base)(**kwargs)


# ---- plugins ------------------------------------------------------------------------------------------------------


class _PluginScorer(Scorer):
    """A third-party scorer as the registry uses it: named in errors by its entry point and distribution, its
    version in every evaluator id (upgrading the plugin recomputes its scores), never trusted."""

    def __init__(self, plugin: Plugin, inner: Scorer) -> None:
        self.plugin, self.inner = plugin, inner
        self.name, self.version = inner.name or plugin.name, inner.version
        self.examples, self.reference = tuple(inner.examples), inner.reference

    def supports(self, m: Measure) -> bool:
        try:
            return bool(self.inner.supports(m))
        except (Exception, SystemExit) as exc:
            raise ScorerError(f"{self.describe([m])} failed to say whether it computes {m}: {one_line(exc)}") from exc

    def evaluator_id(self, m: Measure) -> str:
        return f"{self.inner.evaluator_id(m)} [{self.plugin.dist} {self.plugin.version}]"

    def evaluate(self, run, qrels, measures, *, group=None):
        return self.inner.evaluate(run, qrels, measures, group=group)

    def defined_measures(self) -> Mapping[str, Measure]:
        return self.inner.defined_measures()

    def describe(self, measures: Sequence[Measure]) -> str:
        return f"scorer {self.plugin.label}"


_PLUGINS: tuple[tuple[Plugin, ...], tuple[Scorer, ...], tuple[Plugin, ...]] | None = None


def _plugin_scorers() -> tuple[tuple[Scorer, ...], tuple[Plugin, ...]]:
    """(scorers of the entry points that loaded, entry points that did not), made once per process."""
    global _PLUGINS
    loaded = plugins(GROUP)
    if _PLUGINS is None or _PLUGINS[0] is not loaded:
        good: list[Scorer] = []
        bad: list[Plugin] = []
        for p in loaded:
            scorer, error = _as_scorer(p)
            if scorer is not None:
                good.append(_PluginScorer(p, scorer))
            else:
                bad.append(Plugin(p.group, p.name, p.target, p.dist, p.version, error=error))
        _PLUGINS = (loaded, tuple(good), tuple(bad))
    return _PLUGINS[1], _PLUGINS[2]


def _as_scorer(p: Plugin) -> tuple[Scorer | None, str | None]:
    """The entry point's Scorer: the object itself, or what its class / factory makes with no arguments."""
    if p.error is not None:
        return None, p.error
    obj = p.obj
    try:
        if not isinstance(obj, Scorer) and callable(obj):
            obj = obj()
    except (Exception, SystemExit) as exc:
        return None, one_line(exc)
    if not isinstance(obj, Scorer):
        return None, f"{p.target} is {type(obj).__name__}, not a workbench.scoring.Scorer"
    return obj, None


def _defined(s: Scorer) -> Mapping[str, Measure]:
    try:
        return s.defined_measures()
    except WorkbenchError:
        raise
    except (Exception, SystemExit) as exc:
        raise ScorerError(f"{s.describe([])} failed to list its measures: {one_line(exc)}") from exc


def _broken(failures: Sequence[Plugin]) -> str:
    return "".join(f"; scorer {p.label} failed to load: {p.error}" for p in failures)


# ---- output ---------------------------------------------------------------------------------------------------------


def _merge(parts: list[tuple[Scorer, pa.Table]], ms: list[Measure], group: str | None) -> pa.Table:
    """The scorers' tables as one, ordered by group, query_id, then the order of `ms`."""
    if len(parts) == 1 and parts[0][0].sorted_output:
        return parts[0][1]
    table = pa.concat_tables([t for _, t in parts])
    position = {str(m): i for i, m in enumerate(ms)}
    mpos = pa.array(np.array([position[s] for s in table["measure"].to_pylist()], dtype=np.int64))
    keys = ([(group, "ascending")] if group else []) + [("query_id", "ascending"), ("_m", "ascending")]
    order = pc.sort_indices(table.append_column("_m", mpos), sort_keys=keys)
    return table.take(order)


def _checked(out: object, s: Scorer, ms: list[Measure], qrels: pa.Table, group: str | None,
             gvalues: pa.Array | pa.ChunkedArray | None) -> pa.Table:
    """`out` as the registry's output schema, or a ScorerError saying how the scorer broke its contract."""
    who = s.describe(ms)
    table = _shaped(out, who, group)
    _check_values(table, who, ms, qrels, group, gvalues)
    return table


def _shaped(out: object, who: str, group: str | None) -> pa.Table:
    """The columns and types of the output schema, without nulls: the shape, before the values are checked."""
    if not isinstance(out, pa.Table):
        raise ScorerError(f"{who} returned {type(out).__name__}, not a pyarrow Table")
    want = ["query_id", "measure", "value", *([group] if group else [])]
    if sorted(out.column_names) != sorted(want):
        raise ScorerError(f"{who} returned columns {', '.join(out.column_names) or '(none)'}; "
                          f"expected {', '.join(want)}")
    types = {"query_id": pa.string(), "measure": pa.string(), "value": pa.float64()}
    try:
        cols = {c: out[c] if c == group else pc.cast(out[c], types[c]) for c in want}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ScorerError(f"{who} returned columns of the wrong types ({one_line(exc)})") from None
    table = pa.table(cols)
    for c in want:
        if table[c].null_count:
            raise ScorerError(f"{who} returned missing {c} values")
    return table


def _check_values(table: pa.Table, who: str, ms: list[Measure], qrels: pa.Table, group: str | None,
                  gvalues: pa.Array | pa.ChunkedArray | None) -> None:
    """Finite values, only the measures and judged queries asked for, each once, and all of them."""
    bad = pc.invert(pc.is_finite(table["value"]))
    if pc.any(bad).as_py():
        row = table.filter(bad).slice(0, 1).to_pylist()[0]
        raise ScorerError(f"{who} gave {row['value']} for query {row['query_id']!r} on {row['measure']}; "
                          "expected a finite number")
    names = pa.array([str(m) for m in ms], pa.string())
    stray = table.filter(pc.invert(pc.is_in(table["measure"], value_set=names)))
    if stray.num_rows:
        raise ScorerError(f"{who} returned measure {stray['measure'][0].as_py()!r}, which it was not asked for")
    queries = pc.unique(qrels["query_id"])
    stray = table.filter(pc.invert(pc.is_in(table["query_id"], value_set=queries)))
    if stray.num_rows:
        raise ScorerError(f"{who} returned query {stray['query_id'][0].as_py()!r}, which has no judgments")
    keys = [*([group] if group else []), "query_id", "measure"]
    if table.group_by(keys).aggregate([]).num_rows != table.num_rows:
        raise ScorerError(f"{who} returned a query twice for one measure")
    n_groups = len(pc.unique(gvalues)) if gvalues is not None else 1
    expected = len(queries) * len(ms) * n_groups
    if table.num_rows != expected:
        have = set(table["query_id"].to_pylist())
        missing = sorted(q for q in queries.to_pylist() if q not in have)
        example = f" (e.g. {missing[0]!r})" if missing else ""
        raise ScorerError(f"{who} gave {table.num_rows} values where {expected} were due: one per judged query "
                          f"and measure{example}")
