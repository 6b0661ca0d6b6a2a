"""The step registry: each retrieval step declared once, with its name, parameters, function and run kind.

A `Step` (bm25, dense, fuse, rerank, and third-party steps from the entry point group `workbench.steps`) lists its
parameters with their type, range or choices, default, help and CLI spelling, so `data_manifest.yaml`, `workbench
retrieve|fuse|rerank|step` and `produce()` accept the same names and refuse the same values, and a mistyped or
CLI-spelled manifest key (`bb: 0.4`, `encoder: minilm`) is refused with the right name suggested before any step
of a build runs. `produce()` calls the step's function with a `StepInputs` (the collection's documents, judged
topics and input runs, each loaded when first asked for); nothing here imports the retrieval libraries, and the
entry points are read only when a name is not a built-in step's (see docs/steps.md).
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.numbers import DECIMAL_TEXT, INT_TEXT
from workbench.plugins import Plugin, one_line, plugins

if TYPE_CHECKING:  # pyarrow and the producers load with the first step that runs, not with the CLI's parser
    import pyarrow as pa

    from workbench.retrieval.base import RetrievalResult

INT_MAX = 2**31 - 1
"""The largest count a step accepts (hits, depth, batch size): Anserini and faiss take Java/C ints."""


class ParamError(WorkbenchError):
    """A step parameter is unknown or has a bad value; `key` is the parameter as the user spelled it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Param:
    """One parameter of a step: its name (the manifest key and the function's keyword) and what it accepts."""

    name: str
    kind: str  # "int", "float", "str", "floats" (a list of numbers)
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False  # None (YAML null, or "none" among choices) is a value
    cli: str | None = None  # the CLI option when it is not --<name with dashes>; None with `on_cli=False`
    on_cli: bool = True  # exposed as a CLI option (the rest are manifest-only settings)

    @property
    def option(self) -> str:
        return self.cli or "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """The value if this parameter accepts it (lists as lists), else ParamError naming what it accepts."""
        if value is None or (self.nullable and value == "none"):
            if self.nullable:
                return None
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got null")
        if self.kind == "floats":
            if not isinstance(value, list | tuple) or not value:
                raise ParamError(self.name, f"{self.name} must be a list of numbers, got {value!r}")
            return [self._number(v, float) for v in value]
        if self.kind in ("int", "float"):
            return self._number(value, int if self.kind == "int" else float)
        if not isinstance(value, str):
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        return value

    def _number(self, value: Any, want: type) -> int | float:
        ok = isinstance(value, int) if want is int else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        return value

    def describe(self, *, cli: bool = False) -> str:
        """What the parameter accepts; `cli`: said of one typed value (an option has no null, a list no brackets)."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        kinds = {"int": "an integer", "float": "a number", "str": "a string",
                 "floats": "a number" if cli else "a list of numbers"}
        what = kinds[self.kind]
        if self.minimum is not None and self.maximum is not None:
            what += f" from {self.minimum} to {self.maximum}" if self.kind == "int" else \
                f" in [{self.minimum:g}, {self.maximum:g}]"
        elif self.minimum is not None:
            what += f" >= {self.minimum:g}"
        return what + (" or null" if self.nullable and not cli else "")

    def add_option(self, parser: argparse.ArgumentParser) -> None:
        """This parameter as a CLI option (dest = the parameter name), checked by the same rule."""
        kwargs: dict[str, Any] = {"dest": self.name, "default": self.default, "help": self.help}
        if self.kind == "floats":
            kwargs.update(type=self._cli_value(float), nargs="+", metavar="X", default=None)
        elif self.choices is not None:
            kwargs["choices"] = self.choices
        else:
            kwargs["type"] = self._cli_value({"int": int, "float": float, "str": str}[self.kind])
        parser.add_argument(self.option, **kwargs)

    def _cli_value(self, convert: Callable[[str], Any]) -> Callable[[str], Any]:
        pattern = INT_TEXT if convert is int else DECIMAL_TEXT if convert is float else None

        def parse(text: str) -> Any:
            if pattern is not None and not pattern.fullmatch(text):
                raise argparse.ArgumentTypeError(f"expected {self.describe(cli=True)}, got {text!r}")
            try:
                value = convert(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected {self.describe(cli=True)}, got {text!r}") from None
            try:
                return self._number(value, convert) if convert in (int, float) else value
            except ParamError:
                raise argparse.ArgumentTypeError(f"expected {self.describe(cli=True)}, got {text!r}") from None
        return parse


KINDS = {"retrieve": "no input run", "fuse": "two or more input runs", "rerank": "one input run (the first stage)"}
"""What a step reads, by kind; the manifest spells the inputs `retrieve: <step>`, `<step>: [run, run, ...]` and
`<step>: <run>`."""

GROUP = "workbench.steps"
"""The entry point group third-party steps register under (see docs/steps.md)."""

PIPELINE_WORDS = frozenset({"name", "collection", "params", "kind", "retrieve"})
"""Manifest pipeline keys that are not step names (a fuse or rerank step's name is a pipeline key)."""

RESERVED_PARAMS = frozenset({"name", "collection", "run", "runs", "threads", "force", "replace", "runs_dir", "json",
                             "runs_option", "engine", "ray_address", "db", "help", "step", "step_name", "retriever",
                             "command", "func"})
"""Names a step's parameter cannot take: the CLI's own options and arguments of every step command."""

_STEP_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class StepInputs:
    """What a step reads, each loaded when the step first asks for it (a fuse step never loads the documents).

    `documents` (doc_id, title, text), `topics` (query_id, text: the collection's judged topics only) and `runs`
    (the input runs in the order named, each query_id, doc_id, score, rank) are Arrow tables. `threads`,
    `progress` (a rich-style progress callback or None) and `engine` (a workbench.engine for encoding on Ray, or
    None) are how the caller asked it to run; none of them may change the run a step makes.
    """

    def __init__(self, collection: str, run_names: tuple[str, ...], *, documents: Callable[[], pa.Table],
                 topics: Callable[[], pa.Table], runs: Callable[[], list[pa.Table]], threads: int = 1,
                 progress: Any = None, engine: Any = None) -> None:
        self.collection, self.run_names = collection, run_names
        self.threads, self.progress, self.engine = threads, progress, engine
        self._load = {"documents": documents, "topics": topics, "runs": runs}

    @cached_property
    def documents(self) -> pa.Table:
        return self._load["documents"]()

    @cached_property
    def topics(self) -> pa.Table:
        return self._load["topics"]()

    @cached_property
    def runs(self) -> list[pa.Table]:
        return self._load["runs"]()


StepFunction = Callable[..., Any]
"""`function(inputs: StepInputs, **params)` -> a `RetrievalResult`, or (third-party steps) an Arrow table with
query_id, doc_id and score."""


@dataclass(frozen=True)
class Step:
    """A retrieval step: its name, what it reads (`kind`), its parameters, its function and the kind of run it
    makes (a RunKind value: sparse, dense, learned-sparse, hybrid, rerank, other)."""

    name: str
    kind: str  # a key of KINDS
    params: tuple[Param, ...]
    function: StepFunction
    run_kind: str
    help: str = ""
    check_inputs: Callable[[dict, int], None] | None = None  # cross-parameter rules given the number of inputs
    cli_spellings: Mapping[str, str] = field(default_factory=dict)  # a CLI-only word -> the parameter it sets
    depth_param: str | None = None  # the parameter whose value is stored as the run's depth (a reranker's)
    default_name: Callable[[tuple[str, ...], dict], str] | None = None  # (inputs, params with defaults) -> a name
    engine: bool = False  # takes a workbench.engine (the CLI's --engine), e.g. to encode on Ray
    origin: str | None = None  # "<distribution> <version>" of a plugin step; None for a built-in one

    @property
    def label(self) -> str:
        """How messages name it: `step 'bm25'`, or `step plugin 'mine' (wb-mine 0.1)`."""
        return f"step {self.name!r}" if self.origin is None else f"step plugin {self.name!r} ({self.origin})"

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def checked(self, params: Mapping[str, Any], n_inputs: int = 0) -> dict:
        """`params` as given (unknown keys refused with the right name suggested, values checked)."""
        names = [p.name for p in self.params]
        out = {}
        for key, value in params.items():
            if key not in names:
                raise ParamError(str(key), f"unknown parameter {key!r} of {self.name}{self._suggest(str(key))}; "
                                           f"expected {'one of ' + ', '.join(names) if names else 'none'}")
            out[key] = self.param(key).check(value)
        if self.check_inputs is not None:
            self.check_inputs(out, n_inputs)
        return out

    def check_arity(self, n_inputs: int) -> None:
        """WorkbenchError unless `n_inputs` runs are what this step reads."""
        ok = {"retrieve": n_inputs == 0, "fuse": n_inputs >= 2, "rerank": n_inputs == 1}[self.kind]
        if not ok:
            raise WorkbenchError(f"{self.label} reads {KINDS[self.kind]}, got {n_inputs}")

    def _suggest(self, key: str) -> str:
        spelled = key.lstrip("-").replace("-", "_")
        target = self.cli_spellings.get(spelled) or (spelled if spelled in {p.name for p in self.params} else None)
        if target is not None:
            return f" (the CLI's {'--' + key.lstrip('-')}; in the manifest it is {target!r})"
        close = difflib.get_close_matches(key, [p.name for p in self.params], n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        for p in self.params:
            if p.on_cli:
                p.add_option(parser)

    def from_cli(self, args: argparse.Namespace) -> dict:
        """The step's parameters from parsed CLI options; an option left unset with no default is left out."""
        out = {}
        for p in self.params:
            if p.on_cli and getattr(args, p.name, None) is not None:
                value = getattr(args, p.name)
                out[p.name] = None if (p.nullable and value == "none") else value
        return out

    def run_name(self, inputs: tuple[str, ...], params: Mapping[str, Any]) -> str:
        """The name a run of this step gets when none is given: e.g. bm25, rrf-bm25+dense-minilm, bm25__monot5."""
        if self.default_name is not None:
            return self.default_name(inputs, {p.name: p.default for p in self.params} | dict(params))
        return {"retrieve": self.name, "fuse": f"{self.name}-{'+'.join(inputs)}",
                "rerank": f"{inputs[0] if inputs else ''}__{self.name}"}[self.kind]

    def parent(self, inputs: tuple[str, ...]) -> str | None:
        """The run's parent: the first stage a rerank-kind step re-scored (other steps' runs have none)."""
        return inputs[0] if self.kind == "rerank" and inputs else None

    def depth(self, params: Mapping[str, Any]) -> int | None:
        """The run's depth (how far down its first stage it re-scored), for a step that declares one."""
        if self.depth_param is None:
            return None
        value = params.get(self.depth_param, self.param(self.depth_param).default)
        return None if value is None else int(value)

    def produce(self, inputs: StepInputs, params: Mapping[str, Any]) -> RetrievalResult:
        """The step's run; a plugin's output is checked and put in trec_eval order, its errors made one line."""
        if self.origin is None:
            return self.function(inputs, **params)
        try:
            out = self.function(inputs, **params)
        except WorkbenchError:
            raise
        except (Exception, SystemExit) as exc:  # a plugin may raise anything; it is named, in one line
            raise WorkbenchError(f"{self.label} failed: {one_line(exc)}") from exc
        return self._checked_output(out, params)

    def _checked_output(self, out: Any, params: Mapping[str, Any]) -> RetrievalResult:
        # lazy: pyarrow loads with the first step that runs, not with the CLI's parser
        import pyarrow as pa
        import pyarrow.compute as pc

        from workbench.retrieval.base import RetrievalResult, order_run, versions

        table = out.run if isinstance(out, RetrievalResult) else out
        if not isinstance(table, pa.Table):
            raise WorkbenchError(f"{self.label} returned {type(out).__name__}; expected a pyarrow Table with "
                                 f"query_id, doc_id, score (or a workbench.retrieval.base.RetrievalResult)")
        missing = [c for c in ("query_id", "doc_id", "score") if c not in table.column_names]
        if missing:
            raise WorkbenchError(f"{self.label} returned columns {', '.join(table.column_names) or 'none'}; "
                                 f"expected query_id, doc_id, score")
        try:
            run = order_run(table)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise WorkbenchError(f"{self.label} returned a run that is not text ids and numeric scores: "
                                 f"{one_line(exc)}") from None
        except WorkbenchError as exc:
            raise WorkbenchError(f"{self.label}: {exc}") from None
        bad = pc.sum(pc.invert(pc.is_finite(run.column("score")))).as_py() if run.num_rows else 0
        nulls = sum(run.column(c).null_count for c in ("query_id", "doc_id", "score"))
        if bad or nulls:
            raise WorkbenchError(f"{self.label} returned {bad + nulls} row(s) with a missing id or a score that is "
                                 f"not a finite number")
        spaced = sum(pc.sum(pc.match_substring_regex(run.column(c), r"[\s]|^$")).as_py() or 0
                     for c in ("query_id", "doc_id"))
        if spaced:
            raise WorkbenchError(f"{self.label} returned {spaced} empty id(s) or id(s) with white space (a TREC run "
                                 f"file's fields are separated by it)")
        if isinstance(out, RetrievalResult):
            return replace(out, run=run, kind=self.run_kind)
        dist, _, version = (self.origin or "").rpartition(" ")
        recorded = {p.name: p.default for p in self.params} | dict(params)
        return RetrievalResult(run=run, kind=self.run_kind, params=recorded,
                               software={**versions(), dist: version})


def _fuse_inputs(params: dict, n_inputs: int) -> None:
    method = params.get("method", "rrf")
    if method == "interpolation" and n_inputs and n_inputs != 2:
        raise ParamError("method", f"interpolation fuses exactly two runs, got {n_inputs}")
    weights = params.get("weights")
    if weights is not None and n_inputs and len(weights) != n_inputs:
        raise ParamError("weights", f"weights must give one number per input run ({n_inputs}), got {len(weights)}")


# ---- the built-in steps: each function adapts StepInputs to its producer (imported when the step runs) -------------

def _bm25(inputs: StepInputs, **params: Any) -> RetrievalResult:
    # lazy: the CLI's parser reads the step schemas; a producer loads with its first run
    from workbench.retrieval.bm25 import bm25_search

    return bm25_search(inputs.documents, inputs.topics, threads=inputs.threads, **params)


def _dense(inputs: StepInputs, **params: Any) -> RetrievalResult:
    # lazy: the CLI's parser reads the step schemas; a producer loads with its first run
    from workbench.retrieval.dense import dense_search

    return dense_search(inputs.documents, inputs.topics, threads=inputs.threads, progress=inputs.progress,
                        engine=inputs.engine, **params)


def _fuse(inputs: StepInputs, **params: Any) -> RetrievalResult:
    # lazy: the CLI's parser reads the step schemas; a producer loads with its first run
    from workbench.retrieval.fuse import fuse

    return fuse(inputs.runs, **params)


def _rerank(inputs: StepInputs, **params: Any) -> RetrievalResult:
    # lazy: the CLI's parser reads the step schemas; a producer loads with its first run
    from workbench.retrieval.rerank import rerank

    docs, topics = inputs.documents, inputs.topics  # as before: a collection without them fails before the run loads
    (parent,) = inputs.runs
    return rerank(parent, docs, topics, threads=inputs.threads, progress=inputs.progress, **params)


_HITS = Param("hits", "int", 1000, "documents kept per query (default 1000)", minimum=1, maximum=INT_MAX)
_BATCH = Param("batch_size", "int", 64, "texts per encoder batch (default 64)", minimum=1, maximum=4096)

BM25 = Step("bm25", "retrieve", (
    Param("k1", "float", 0.9, "BM25 k1 (default 0.9, Anserini's BEIR setting)", minimum=0, maximum=1000),
    Param("b", "float", 0.4, "BM25 b (default 0.4)", minimum=0, maximum=1),
    _HITS,
    Param("fields", "str", "flat", "flat (title + text in one field) or multifield", choices=("flat", "multifield"),
          on_cli=False),
), _bm25, "sparse", help="BM25 via pyserini/Lucene (BEIR flat: title and text in one field)")
DENSE = Step("dense", "retrieve", (
    Param("model", "str", "minilm", "'minilm' (bundled all-MiniLM-L6-v2) or a model directory", cli="--encoder"),
    _HITS,
    Param("index", "str", "flat", "faiss index: flat (exact) or hnsw", choices=("flat", "hnsw")),
    _BATCH,
    Param("query_prefix", "str", "", "text put before each query (e.g. 'query: ' for E5)", on_cli=False),
    Param("doc_prefix", "str", "", "text put before each document (e.g. 'passage: ')", on_cli=False),
    Param("hnsw_m", "int", 32, "HNSW neighbours per node", minimum=2, maximum=INT_MAX, on_cli=False),
    Param("ef_construction", "int", 200, "HNSW build beam", minimum=1, maximum=INT_MAX, on_cli=False),
    Param("ef_search", "int", None, "HNSW search beam (default max(hits, 128))", minimum=1, maximum=INT_MAX,
          nullable=True, on_cli=False),
), _dense, "dense", help="dense retrieval: sentence-transformers encoder + faiss", cli_spellings={"encoder": "model"},
    default_name=lambda inputs, p: f"dense-{Path(p['model']).name}", engine=True)
FUSE = Step("fuse", "fuse", (
    Param("method", "str", "rrf", "rrf, combsum, combmnz or interpolation (default rrf)",
          choices=("rrf", "combsum", "combmnz", "interpolation")),
    Param("k", "int", 60, "RRF k (default 60)", minimum=0, maximum=INT_MAX),
    Param("norm", "str", None, "score normalisation for combsum/combmnz/interpolation (default minmax)",
          choices=("minmax", "zscore", "rank", "none"), nullable=True),
    Param("weights", "floats", None, "one weight per input run", minimum=-1e6, maximum=1e6, nullable=True),
    Param("depth", "int", 1000, "documents taken from each input per query (default 1000)", minimum=1,
          maximum=INT_MAX, nullable=True),
    Param("hits", "int", 1000, "documents kept per query in the fused run (default 1000)", minimum=1,
          maximum=INT_MAX, nullable=True, on_cli=False),
), _fuse, "hybrid", help="fuse two or more stored runs (RRF, CombSUM, CombMNZ, interpolation)",
    check_inputs=_fuse_inputs, default_name=lambda inputs, p: f"{p['method']}-{'+'.join(inputs)}")
RERANK = Step("rerank", "rerank", (
    Param("depth", "int", 100, "documents per query re-scored (default 100)", minimum=1, maximum=INT_MAX),
    Param("model", "str", "minilm", "'minilm' or a local sentence-transformers/CrossEncoder dir"),
    _BATCH,
), _rerank, "rerank", help="re-score the top-k of a stored run (MiniLM bi-encoder or a CrossEncoder dir)",
    depth_param="depth",
    default_name=lambda inputs, p: f"{inputs[0]}__{Path(p['model']).name}@{p['depth']}")

STEPS: dict[str, Step] = {s.name: s for s in (BM25, DENSE, FUSE, RERANK)}
"""The built-in steps by name (a retriever's name for retrieve steps); `steps()` adds the plugins."""


# ---- the registry: built-in steps, then plugins (read only when a name is not a built-in's) -----------------------

def steps() -> dict[str, Step]:
    """Every step by name: the built-in ones, then the plugins that loaded (reads the entry points)."""
    return {**STEPS, **_plugin_steps()[0]}


def plugin_failures() -> tuple[str, ...]:
    """One line for each `workbench.steps` entry point that is not a usable step (reads the entry points)."""
    return _plugin_steps()[1]


def get_step(name: str) -> Step | None:
    """The step called `name`: a built-in one, else a plugin's (the entry points are read only then)."""
    if name in STEPS:
        return STEPS[name]
    return _plugin_steps()[0].get(name) if isinstance(name, str) else None


def step_spec(step: str, retriever: str | None = None) -> Step:
    """The step of a pipeline: `retrieve` with its retriever, else the step named `step` (fuse, rerank, a plugin's
    fuse- or rerank-kind step); WorkbenchError naming the known ones (and any plugin that failed to load)."""
    retrieving = step == "retrieve"
    name = retriever if retrieving else step
    found = get_step(name) if isinstance(name, str) else None
    if found is None or (found.kind == "retrieve") != retrieving:
        known = ", ".join(s.name for s in steps().values() if (s.kind == "retrieve") == retrieving)
        failed = "".join(f"; {line}" for line in plugin_failures())
        raise WorkbenchError(f"unknown {'retriever' if retrieving else 'step'} {name!r}; expected one of {known}"
                             f"{failed}")
    return found


_PLUGINS: list[tuple[tuple[Plugin, ...], dict[str, Step], tuple[str, ...]]] = []


def _plugin_steps() -> tuple[dict[str, Step], tuple[str, ...]]:
    """(the plugin steps that loaded, by name; one line per entry point that did not), made once per reading of
    the entry points (`workbench.plugins.forget_plugins` reads them afresh)."""
    loaded = plugins(GROUP)
    if not _PLUGINS or _PLUGINS[0][0] is not loaded:
        good: dict[str, Step] = {}
        bad: list[str] = []
        for p in loaded:
            step = _plugin_step(p)
            if isinstance(step, Step):
                good[step.name] = step
            else:
                bad.append(f"step plugin {p.name!r} ({p.dist} {p.version}) {step}")
        _PLUGINS[:] = [(loaded, good, tuple(bad))]
    return _PLUGINS[0][1], _PLUGINS[0][2]


def _plugin_step(p: Plugin) -> Step | str:
    """The entry point's Step (the object, or what its zero-argument factory makes), else why it is not one."""
    if p.error is not None:
        return f"failed to load: {p.error}"
    obj = p.obj
    if not isinstance(obj, Step) and callable(obj):
        try:
            obj = obj()
        except Exception as exc:  # a plugin's factory may raise anything
            return f"failed to load: {one_line(exc)}"
    if not isinstance(obj, Step):
        return f"failed to load: {p.target} is {type(obj).__name__}, not a workbench.retrieval.steps.Step"
    problem = _step_problem(obj, p.name)
    return f"failed to load: {problem}" if problem else replace(obj, origin=f"{p.dist} {p.version}")


def _step_problem(step: Step, entry_point: str) -> str | None:
    """What makes a third-party Step unusable (None when nothing does)."""
    # lazy: workbench.model loads pyarrow, which the CLI's parser must not
    from workbench.model import RunKind

    names = [p.name for p in step.params]
    if step.name != entry_point:
        return f"its step is named {step.name!r}; the entry point must carry the step's name"
    if not isinstance(step.name, str) or not _STEP_NAME.fullmatch(step.name):
        return f"step name {step.name!r} must be lower-case letters, digits, _ and - (starting with a letter)"
    if step.name in STEPS or step.name in PIPELINE_WORDS | {"fuse", "rerank", "step"}:
        return f"step name {step.name!r} is taken by the workbench"
    if step.kind not in KINDS:
        return f"kind {step.kind!r} must be one of {', '.join(KINDS)}"
    if step.run_kind not in {k.value for k in RunKind}:
        return f"run_kind {step.run_kind!r} must be one of {', '.join(k.value for k in RunKind)}"
    if not callable(step.function):
        return "its function is not callable"
    if not all(isinstance(p, Param) for p in step.params) or len(set(names)) != len(names):
        return "its params must be Param objects with distinct names"
    taken = sorted(set(names) & RESERVED_PARAMS)
    if taken:
        return f"parameter name {taken[0]!r} is taken by the CLI's options"
    if step.depth_param is not None and step.depth_param not in names:
        return f"depth_param {step.depth_param!r} is not one of its parameters"
    return None
