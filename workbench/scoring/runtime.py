"""A user's own measures: `ir_measures.define` / `define_byquery` values in a Python file, scored like the rest.

    # mymeasures.py
    import ir_measures
    RelAt = ir_measures.define_byquery(lambda qrels, run: ..., name="RelAt")

    workbench evaluate -c dl20 --custom-measures mymeasures.py -m RelAt@10 nDCG@10

A file's bytes are its measures' identity: the evaluator id stored with each score carries their SHA-256, so an
edit anywhere in the file (a comment included) recomputes its measures on their next use, and an unchanged file is
never rescored. Code the file imports from elsewhere is not part of that identity: edit the file too (a version
comment will do) when a helper it imports changes.

The user's function sees what ir-measures' runtime provider gives it (pandas frames: the run's query_id, doc_id,
score; the qrels' query_id, doc_id, relevance), with the workbench's semantics: only judged queries, each ranking
in trec_eval order (score descending as float64, ties by doc_id descending) and cut at the measure's cutoff in
that order; a judged query the run misses gets the measure's DEFAULT (0), as ir-measures gives it.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path

import ir_measures
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure

from workbench.errors import InputFormatError, WorkbenchError
from workbench.plugins import one_line
from workbench.scoring.base import Scorer, ScorerError

__all__ = ["ENV", "MeasureSource", "RuntimeScorer", "read_source"]

VERSION = "0.1"
ENV = "WORKBENCH_CUSTOM_MEASURES"
"""Measure files for every command and the dashboard, separated by os.pathsep (as PATH); read when a measure
name ir-measures does not know is first asked for."""

_RUN_COLUMNS = ("query_id", "doc_id", "score")
_QRELS_COLUMNS = ("query_id", "doc_id", "relevance")


@dataclass(frozen=True)
class MeasureSource:
    """A measures file as read once: its path (for messages) and bytes (its identity, and what is executed)."""

    path: str
    text: bytes = field(repr=False)
    stamp: tuple[int, int] | None = field(default=None, compare=False)  # (mtime_ns, size) when read

    @property
    def sha256(self) -> str:
        import hashlib  # here: `import workbench.scoring` (every command) loads no OpenSSL

        return hashlib.sha256(self.text).hexdigest()

    def changed(self) -> bool:
        """The file on disk is no longer what was read (a deleted file keeps what was read)."""
        now = _stamp(Path(self.path))
        return self.stamp is not None and now is not None and now != self.stamp


def _stamp(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def read_source(path: str | os.PathLike) -> MeasureSource:
    """Read a measures file; a one-line error when it is not a readable file."""
    p = Path(path)
    try:
        if not p.is_file():
            what = "not a file" if p.exists() else "no such file"
            raise InputFormatError(p, None, f"{what}; expected a Python file of ir_measures.define measures")
        stamp = _stamp(p)
        return MeasureSource(str(p.absolute()), p.read_bytes(), stamp)
    except OSError as exc:  # a name too long, a folder without permission
        raise InputFormatError(p, None, exc.strerror or one_line(exc)) from None


def _where(source: MeasureSource) -> str:
    return os.path.realpath(source.path)


_DEFINED: dict[str, dict[str, Measure]] = {}  # sha256 -> the measures its file defines (executed once a process)
_LOCK = threading.Lock()


def defined_in(source: MeasureSource) -> dict[str, Measure]:
    """The runtime measures `source` defines, by name; the file is executed once per process and content."""
    with _LOCK:
        if source.sha256 not in _DEFINED:
            _DEFINED[source.sha256] = _collect(source, _execute(source))
        return _DEFINED[source.sha256]


def _execute(source: MeasureSource) -> types.ModuleType:
    """Run the file as a module of its own (named by its hash, so pickle finds its functions); a file beside it
    can be imported, as when Python runs it."""
    try:
        code = compile(source.text, source.path, "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte
        line = getattr(exc, "lineno", None)
        raise InputFormatError(source.path, line, f"not valid Python: {one_line(exc)}") from None
    name = f"_workbench_measures_{source.sha256[:16]}"
    module = types.ModuleType(name)
    module.__file__ = source.path
    folder = str(Path(source.path).resolve().parent)
    if folder not in sys.path:
        sys.path.append(folder)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        raise InputFormatError(source.path, _line_in(exc, source.path), one_line(exc)) from None
    return module


def _line_in(exc: BaseException, path: str) -> int | None:
    """The line of `path` the exception passed through last (where the user's code failed)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _collect(source: MeasureSource, module: types.ModuleType) -> dict[str, Measure]:
    found: dict[str, Measure] = {}
    for var, value in vars(module).items():
        if not isinstance(value, Measure) or not hasattr(value, "runtime_impl"):
            continue
        name = value.NAME
        if not isinstance(name, str) or not name.isidentifier():
            raise InputFormatError(source.path, None, f"measure {var} has no name a measure string can use "
                                   f"({name!r}); give one: ir_measures.define_byquery(..., name='MyMeasure')")
        taken = _meaning(name)
        if taken is not None:
            raise InputFormatError(source.path, None, f"measure name {name!r} is taken: it already means "
                                   f"{taken}; choose another")
        if name in found and type(found[name]) is not type(value):
            raise InputFormatError(source.path, None, f"defines two different measures named {name!r}")
        if name not in found or not value.params:  # `MyLen10 = MyLen@10` beside MyLen is the same measure
            found[name] = value
    if not found:
        raise InputFormatError(source.path, None, "defines no measures; expected module-level "
                               "ir_measures.define(...) or ir_measures.define_byquery(...) values with a name")
    return found


def _meaning(name: str) -> str | None:
    """What `name` means without any user file (an ir-measures measure, a trec_eval name), or None."""
    # cycle: the registry and measures import this module
    from workbench.scoring.measures import parse_measures
    from workbench.scoring.registry import Scorers

    try:
        with Scorers((), plugins=False).active():  # no runtime or plugin names: nor a file being read (re-entry)
            return ", ".join(str(m) for m in parse_measures([name]))
    except WorkbenchError:
        return None


class RuntimeScorer(Scorer):
    """The measures of the given files (read now) and of `pending` paths (read when first needed: those of $ENV,
    so a broken file there stops only the commands that ask for a measure ir-measures lacks)."""

    name = "runtime"
    version = VERSION

    def __init__(self, sources: Sequence[MeasureSource] = (), pending: Sequence[str] = ()) -> None:
        self._sources = tuple(sources)
        self._pending = tuple(pending)
        self._table: dict[str, tuple[Measure, MeasureSource]] | None = None

    def __getstate__(self) -> dict:
        return {"sources": self.sources()}  # a Ray worker gets the files' bytes, not paths it may lack

    def __setstate__(self, state: dict) -> None:
        RuntimeScorer.__init__(self, state["sources"])

    def sources(self) -> tuple[MeasureSource, ...]:
        if self._pending:
            try:
                read = tuple(read_source(p) for p in self._pending)
            except InputFormatError as exc:
                raise InputFormatError(exc.path, exc.line, exc.reason, hint=f"listed in {ENV}") from None
            self._sources, self._pending = self._sources + read, ()
        return self._sources

    def with_sources(self, sources: Sequence[MeasureSource]) -> RuntimeScorer:
        """This scorer and the measures of `sources` (checked now: a broken file fails here); a file given again
        replaces what it held before (a notebook re-reading the file it edited)."""
        again = {_where(s) for s in sources}
        kept = tuple(s for s in self.sources() if _where(s) not in again)
        scorer = RuntimeScorer(kept + tuple(dict.fromkeys(sources)))
        scorer.table()
        return scorer

    def refreshed(self) -> RuntimeScorer:
        """This scorer, or one with the files edited since they were read read again (a notebook or dashboard
        process outlives an edit; a Ray task keeps the bytes it was given)."""
        changed = [s for s in self._sources if s.changed()]
        return self.with_sources([read_source(s.path) for s in changed]) if changed else self

    def table(self) -> dict[str, tuple[Measure, MeasureSource]]:
        """name -> (measure, the file defining it); two files defining one name are refused."""
        if self._table is None:
            table: dict[str, tuple[Measure, MeasureSource]] = {}
            for source in self.sources():
                for name, m in defined_in(source).items():
                    if name in table and table[name][1].sha256 != source.sha256:
                        raise InputFormatError(source.path, None,
                                               f"measure {name!r} is also defined in {table[name][1].path}")
                    table[name] = (m, source)
            self._table = table
        return self._table

    @property
    def examples(self) -> tuple[str, ...]:  # type: ignore[override]
        """The files' measures, each by its bare name (the registry test checks them against ir-measures)."""
        return tuple(self.table())

    def defined_measures(self) -> Mapping[str, Measure]:
        return {name: m for name, (m, _) in self.table().items()}

    def supports(self, m: Measure) -> bool:
        return hasattr(m, "runtime_impl") and m.NAME in self.table()

    def evaluator_id(self, m: Measure) -> str:
        source = self.table()[m.NAME or ""][1]
        return (f"workbench.runtime {VERSION} ({Path(source.path).name} sha256:{source.sha256[:16]}; "
                f"ir_measures {ir_measures.__version__})")

    def describe(self, measures: Sequence[Measure]) -> str:
        files = sorted({self.table()[m.NAME][1].path for m in measures if m.NAME in self.table()})
        names = ", ".join(str(m) for m in measures)
        return f"runtime measure{'s' if len(measures) > 1 else ''} {names} ({', '.join(files)})"

    def evaluate(self, run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *,
                 group: str | None = None) -> pa.Table:
        own = [self._own(m) for m in measures]
        gvalues = pc.unique(run[group]).to_pylist() if group else [None]  # a group of unjudged rows scores 0 too
        queries = pc.unique(qrels["query_id"])
        run = run.filter(pc.is_in(run["query_id"], value_set=queries))
        keys = [(group, "ascending")] if group else []
        run = run.take(pc.sort_indices(run, sort_keys=[*keys, ("query_id", "ascending"), ("score", "descending"),
                                                       ("doc_id", "descending")]))
        qrels_df = qrels.select(list(_QRELS_COLUMNS)).to_pandas().sort_values(["query_id", "doc_id"])
        judged = queries.to_pylist()
        cols: dict[str, list] = {"query_id": [], "measure": [], "value": []}
        gcol: list = []
        for g in gvalues:
            part = run if group is None else run.filter(pc.equal(run[group], g))
            run_df = part.select(list(_RUN_COLUMNS)).to_pandas()
            for m in own:  # each function gets its own frames: one that sorts in place changes no other's input
                values = self._values(m, qrels_df.copy(), run_df.copy(), set(judged))
                for q in judged:
                    cols["query_id"].append(q)
                    cols["measure"].append(str(m))
                    cols["value"].append(values.get(q, float(m.DEFAULT)))
                    gcol.append(g)
        table = pa.table({"query_id": pa.array(cols["query_id"], pa.string()),
                          "measure": pa.array(cols["measure"], pa.string()),
                          "value": pa.array(cols["value"], pa.float64())})
        return table.append_column(group, pa.array(gcol, run.schema.field(group).type)) if group else table

    def _own(self, m: Measure) -> Measure:
        """`m` as this scorer's file defines it (the same name and parameters, made from its own class), and its
        inputs checked: a measure unpickled in a Ray worker or parsed elsewhere is computed by the file's code."""
        base = self.table()[m.NAME or ""][0]
        own = type(base)(**m.params)
        for what, needed, given in (("run", getattr(own, "RUN_INPUTS", ()), _RUN_COLUMNS),
                                    ("qrels", getattr(own, "QREL_INPUTS", ()), _QRELS_COLUMNS)):
            missing = [c for c in needed if c not in given]
            if missing:
                raise ScorerError(f"{self.describe([m])}: needs {what} column(s) {', '.join(missing)}; "
                                  f"the workbench gives {', '.join(given)}")
        return own

    def _values(self, m: Measure, qrels_df, run_df, judged: set[str]) -> dict[str, float]:
        values: dict[str, float] = {}
        for metric in m.runtime_impl(qrels_df, run_df):  # type: ignore[attr-defined]  # ir_measures.define's
            q, v = metric.query_id, metric.value
            if q not in judged:
                continue
            if q in values:
                raise ScorerError(f"{self.describe([m])} gave two values for query {q!r}")
            if not isinstance(v, Real):
                raise ScorerError(f"{self.describe([m])} gave {type(v).__name__} {v!r} for query {q!r}; "
                                  "expected a number")
            values[q] = float(v)
        return values
