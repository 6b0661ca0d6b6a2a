"""data_manifest.yaml: the declared collections, run files and pipelines, validated with file:line errors.

Loaded with yaml's SafeLoader only (no arbitrary objects). Every mapping remembers the line it started on,
so an unknown key, a missing file or a dependency cycle is reported where the user wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.datasets.report import parse_grade_map
from workbench.errors import ManifestError, WorkbenchError
from workbench.io import _text
from workbench.io._yaml import BoundedSafeLoader, YamlLimitError
from workbench.io.topics import DEFAULT_TOPIC_FIELD, TOPIC_FIELDS
from workbench.model import RunKind
from workbench.naming import check_name, run_name_for
from workbench.retrieval.steps import PIPELINE_WORDS, ParamError, get_step, plugin_failures, step_spec, steps

COLLECTION_KEYS = {"description", "qrels", "topics", "docs", "ir_datasets", "relevance", "topic_field", "grade_map"}
RUN_KEYS = {"file", "collection", "name", "kind", "parent", "depth"}
BENCHMARK_KEYS = {"description", "collections"}


class _Map(dict):
    line: int = 0
    key_lines: dict


class _Loader(BoundedSafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    _check_keys(loader, node)
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _check_keys(loader: _Loader, node: yaml.MappingNode) -> None:
    """Keys are plain values, each written once (PyYAML would keep the last of two silently)."""
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            what = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
            raise _Refused(f"a key must be a plain value, not a {what}", key_node.start_mark)
        key = loader.construct_object(key_node)
        if key in seen:
            raise _Refused(f"duplicate key {key_node.value!r} (first at line {seen[key]})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1


class _Refused(YamlLimitError):
    """Well-formed YAML this manifest does not accept (reported without the 'invalid YAML' prefix)."""


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    line: int
    qrels: Path | None = None
    topics: Path | None = None
    docs: Path | tuple[Path, ...] | None = None  # a file or folder, or a list of them
    ir_datasets: str | None = None
    relevance: str | None = None
    description: str = ""
    topic_field: str = DEFAULT_TOPIC_FIELD
    grade_map: dict[int, int] | None = None


@dataclass(frozen=True)
class RunSpec:
    file: Path
    collection: str
    line: int
    name: str
    kind: str | None = None
    parent: str | None = None
    depth: int | None = None


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    collection: str
    step: str  # retrieve, or a fuse- or rerank-kind step's name (fuse, rerank, a plugin's)
    line: int
    retriever: str | None = None  # for retrieve
    inputs: tuple[str, ...] = ()  # runs this step reads (fuse inputs, rerank parent)
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    collections: tuple[str, ...]
    line: int
    description: str = ""


@dataclass(frozen=True)
class Manifest:
    path: Path
    collections: dict[str, CollectionSpec]
    runs: list[RunSpec]
    pipelines: list[PipelineSpec]
    benchmarks: dict[str, BenchmarkSpec] = field(default_factory=dict)

    def pipeline_order(self) -> list[PipelineSpec]:
        """Pipelines in dependency order (inputs first); cycles were rejected at load time."""
        return _topological(self)


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    _text.check_file(path, ManifestError)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except UnicodeDecodeError as exc:
        raise ManifestError(path, None, f"not UTF-8 text ({exc.reason})") from exc
    except YamlLimitError as exc:
        raise ManifestError(path, exc.problem_mark.line + 1, exc.problem) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ManifestError(path, mark.line + 1 if mark else None, f"invalid YAML: {getattr(exc, 'problem', exc)}") \
            from exc
    if not isinstance(data, _Map):
        raise ManifestError(path, 1, "expected a mapping with collections, runs, pipelines and benchmarks")
    _unknown(path, data, {"version", "collections", "runs", "pipelines", "benchmarks"})
    version = data.get("version", 1)
    if type(version) is not int or version != 1:
        raise ManifestError(path, data.key_lines["version"], f"version must be 1 (the only manifest version), "
                                                             f"got {_shown(version)}")
    base = path.parent
    collections = _collections(path, base, data.get("collections") or _Map(), data)
    runs = _runs(path, base, data.get("runs") or [], collections, data)
    pipelines = _pipelines(path, data.get("pipelines") or [], collections, data)
    benchmarks = _benchmarks(path, data.get("benchmarks") or _Map(), collections, data)
    manifest = Manifest(path, collections, runs, pipelines, benchmarks)
    _check_references(manifest)
    _topological(manifest)
    return manifest


def _unknown(path: Path, m: _Map, allowed: set[str]) -> None:
    for key in m:
        if key not in allowed:
            raise ManifestError(path, m.key_lines.get(key, m.line),
                                f"unknown key {key!r}; expected one of {', '.join(sorted(allowed))}")


_STRINGS = ("description", "ir_datasets", "relevance", "collection", "kind", "parent", "name", "retrieve", "rerank")


def _scalar_types(path: Path, m: _Map) -> None:
    """Every scalar setting has its type: a string, or a whole number for depth (YAML reads `depth: true` as a
    bool, `name: 2019` as a number and `kind: [a]` as a list)."""
    for key, value in m.items():
        if value is None:
            continue
        if key == "depth":
            ok = type(value) is int
            what = "a positive integer"
        elif key in _STRINGS:
            ok = isinstance(value, str)
            what = "a string" + (" (quote it)" if isinstance(value, (bool, int, float)) else "")
        else:
            continue
        if not ok:
            raise ManifestError(path, m.key_lines[key], f"{key} must be {what}, got {_shown(value)}")


def _shown(value) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a mapping"
    return repr(value)


def _file(path: Path, base: Path, m: _Map, key: str) -> Path | None:
    if m.get(key) is None:
        return None
    if not isinstance(m[key], str):
        raise ManifestError(path, m.key_lines[key], f"{key} must be a file path")
    target = (base / m[key]).resolve()
    if not target.is_file():
        what = "is a directory" if target.is_dir() else "is not a regular file" if target.exists() else "does not exist"
        label = key if key == "file" else f"{key} file"  # a run's `file:`, not "file file"
        raise ManifestError(path, m.key_lines[key], f"{label} {m[key]!r} {what}")
    return target


def _name(path: Path, line: int, value, what: str) -> str:
    if not isinstance(value, str):
        raise ManifestError(path, line, f"{what} name must be a string, got {value!r}")
    try:
        return check_name(value, what)
    except Exception as exc:
        raise ManifestError(path, line, str(exc)) from exc


def _collections(path: Path, base: Path, node, root: _Map) -> dict[str, CollectionSpec]:
    if not isinstance(node, _Map):
        raise ManifestError(path, root.key_lines.get("collections"),
                            "collections must be a mapping of name -> settings")
    out = {}
    for name, spec in node.items():
        line = node.key_lines[name]
        _name(path, line, name, "collection")
        if not isinstance(spec, _Map):
            raise ManifestError(path, line, f"collection {name!r} must be a mapping")
        _unknown(path, spec, COLLECTION_KEYS)
        _scalar_types(path, spec)
        if not spec.get("qrels") and not spec.get("ir_datasets"):
            raise ManifestError(path, spec.line, f"collection {name!r} needs qrels (a file) or ir_datasets (an id)")
        if spec.get("relevance") not in (None, "graded", "binary"):
            raise ManifestError(path, spec.key_lines["relevance"], "relevance must be 'graded' or 'binary'")
        topic_field = spec.get("topic_field", DEFAULT_TOPIC_FIELD)
        if topic_field not in TOPIC_FIELDS:
            raise ManifestError(path, spec.key_lines["topic_field"],
                                f"topic_field must be one of {', '.join(TOPIC_FIELDS)}, got {topic_field!r}")
        out[name] = CollectionSpec(
            name=name, line=line, qrels=_file(path, base, spec, "qrels"), topics=_file(path, base, spec, "topics"),
            docs=_docs(path, base, spec), ir_datasets=spec.get("ir_datasets"),
            relevance=spec.get("relevance"), description=spec.get("description") or "",
            topic_field=topic_field, grade_map=_grade_map(path, spec),
        )
    return out


def _benchmarks(path: Path, node, collections: dict[str, CollectionSpec], root: _Map) -> dict[str, BenchmarkSpec]:
    """`benchmarks: NAME: {collections: [C1, C2, ...], description: ...}`: each collection declared above, once."""
    if not isinstance(node, _Map):
        raise ManifestError(path, root.key_lines.get("benchmarks"), "benchmarks must be a mapping of name -> settings")
    out = {}
    for name, spec in node.items():
        line = node.key_lines[name]
        _name(path, line, name, "benchmark")
        if not isinstance(spec, _Map):
            raise ManifestError(path, line, f"benchmark {name!r} must be a mapping with collections")
        _unknown(path, spec, BENCHMARK_KEYS)
        members = spec.get("collections")
        at = spec.key_lines.get("collections", spec.line)
        if not isinstance(members, list) or not members:
            raise ManifestError(path, at, f"benchmark {name!r} needs collections: a list of at least one name")
        for i, c in enumerate(members):
            if not isinstance(c, str) or c not in collections:
                raise ManifestError(path, at, f"benchmark {name!r} names collection {c!r}, which is not declared "
                                              "under collections")
            if c in members[:i]:
                raise ManifestError(path, at, f"benchmark {name!r} names collection {c!r} twice")
        description = spec.get("description") or ""
        if not isinstance(description, str) or "\n" in description.strip():
            raise ManifestError(path, spec.key_lines.get("description", line), "description must be one line of text")
        out[name] = BenchmarkSpec(name, tuple(members), line, description.strip())
    return out


def _docs(path: Path, base: Path, spec: _Map) -> Path | tuple[Path, ...] | None:
    """`docs:` a file or folder, or a list of them (each must exist)."""
    value = spec.get("docs")
    if not isinstance(value, list):
        if value is not None and isinstance(value, str) and (base / value).is_dir():
            return (base / value).resolve()
        return _file(path, base, spec, "docs")
    if not value or not all(isinstance(v, str) for v in value):
        raise ManifestError(path, spec.key_lines["docs"], "docs must be a path or a list of paths")
    out = []
    for item in value:
        target = (base / item).resolve()
        if not (target.is_file() or target.is_dir()):  # a FIFO or a device is named here, as by _file
            what = "is not a regular file" if target.exists() else "does not exist"
            raise ManifestError(path, spec.key_lines["docs"], f"docs file {item!r} {what}")
        out.append(target)
    return tuple(out)


def _grade_map(path: Path, spec: _Map) -> dict[int, int] | None:
    """`grade_map: "1:3,2:2,-1:0"` (or a mapping 1: 3, ...), checked here so a bad map stops the build early."""
    value = spec.get("grade_map")
    if value is None:
        return None
    text = ",".join(f"{k}:{v}" for k, v in value.items()) if isinstance(value, dict) else value
    try:
        if not isinstance(text, str):
            raise WorkbenchError(f"grade map must be a string like \"1:3,2:2,-1:0\" or a mapping, got {value!r}")
        return parse_grade_map(text)
    except WorkbenchError as exc:
        raise ManifestError(path, spec.key_lines["grade_map"], str(exc)) from None


def _runs(path: Path, base: Path, node, collections, root: _Map) -> list[RunSpec]:
    if not isinstance(node, list):
        raise ManifestError(path, root.key_lines.get("runs"), "runs must be a list")
    out = []
    kinds = {k.value for k in RunKind}
    for spec in node:
        if not isinstance(spec, _Map):
            raise ManifestError(path, root.key_lines.get("runs"), "each run must be a mapping with file and collection")
        _unknown(path, spec, RUN_KEYS)
        _scalar_types(path, spec)
        file = _file(path, base, spec, "file")
        if file is None:
            raise ManifestError(path, spec.line, "run needs a file")
        if spec.get("collection") not in collections:
            raise ManifestError(path, spec.key_lines.get("collection", spec.line),
                                f"run collection {spec.get('collection')!r} is not declared under collections")
        if spec.get("kind") is not None and spec["kind"] not in kinds:
            raise ManifestError(path, spec.key_lines["kind"], f"unknown kind {spec['kind']!r}")
        depth = spec.get("depth")
        if depth is not None and depth < 1:
            raise ManifestError(path, spec.key_lines["depth"], "depth must be a positive integer")
        name = _name(path, spec.line, spec.get("name") or run_name_for(file), "run")
        out.append(RunSpec(file=file, collection=spec["collection"], line=spec.line, name=name,
                           kind=spec.get("kind"), parent=spec.get("parent"), depth=depth))
    return out


def _pipelines(path: Path, node, collections, root: _Map) -> list[PipelineSpec]:
    if not isinstance(node, list):
        raise ManifestError(path, root.key_lines.get("pipelines"), "pipelines must be a list")
    out = []
    for spec in node:
        if not isinstance(spec, _Map):
            raise ManifestError(path, root.key_lines.get("pipelines"), "each pipeline must be a mapping")
        step_keys = _step_keys(path, spec)
        _scalar_types(path, spec)
        name = _name(path, spec.line, spec.get("name"), "pipeline")
        if spec.get("collection") not in collections:
            raise ManifestError(path, spec.key_lines.get("collection", spec.line),
                                f"pipeline collection {spec.get('collection')!r} is not declared under collections")
        if len(step_keys) != 1:
            raise ManifestError(path, spec.line, f"pipeline {name!r} needs exactly one of {_step_words()}")
        step = step_keys[0]
        params = spec.get("params") or _Map()
        if not isinstance(params, _Map):  # the loader makes every mapping a _Map
            raise ManifestError(path, spec.key_lines["params"], "params must be a mapping")
        retriever, inputs = _step_inputs(path, spec, step)
        params = _step_params(path, spec, params, step, retriever, len(inputs))
        out.append(PipelineSpec(name=name, collection=spec["collection"], step=step, line=spec.line,
                                retriever=retriever, inputs=inputs, params=dict(params)))
    return out


def _step_keys(path: Path, spec: _Map) -> list[str]:
    """The keys of a pipeline that name its step: `retrieve`, and any other key that is a fuse- or rerank-kind
    step's name (fuse, rerank, a plugin's: entry points are read only for a key no built-in step has)."""
    out = []
    for key in spec:
        if key in PIPELINE_WORDS:
            out += [key] if key == "retrieve" else []
            continue
        step = get_step(key) if isinstance(key, str) else None
        if step is None or step.kind == "retrieve":
            hint = f" (a retriever: write 'retrieve: {key}')" if step is not None else ""
            failed = "".join(f"; {line}" for line in plugin_failures()) if step is None else ""
            raise ManifestError(path, spec.key_lines.get(key, spec.line),
                                f"unknown key {key!r}{hint}; expected one of "
                                f"{', '.join(sorted(PIPELINE_WORDS | _step_names()))}{failed}")
        out.append(key)
    return out


def _step_names() -> set[str]:
    return {s.name for s in steps().values() if s.kind != "retrieve"}


def _step_words() -> str:
    """retrieve, fuse, rerank (and the plugins' fuse- and rerank-kind steps, if any)."""
    return ", ".join(["retrieve", "fuse", "rerank", *sorted(_step_names() - {"fuse", "rerank"})])


def _step_inputs(path: Path, spec: _Map, step: str) -> tuple[str | None, tuple[str, ...]]:
    """(the retriever, the runs the step reads), in the shape the step's kind asks for."""
    line, value = spec.key_lines[step], spec[step]
    if step == "retrieve":
        try:
            step_spec("retrieve", value)
        except WorkbenchError as exc:
            raise ManifestError(path, line, str(exc)) from None
        return value, ()
    kind = step_spec(step).kind
    if kind == "fuse":
        if not isinstance(value, list) or len(value) < 2:
            raise ManifestError(path, line, f"{step} needs a list of at least two run names")
        bad = next((x for x in value if not isinstance(x, str)), None)
        if bad is not None:
            raise ManifestError(path, line, f"{step} names runs: each must be a string, got {bad!r}")
        return None, tuple(value)
    if not isinstance(value, str):
        raise ManifestError(path, line, f"{step} names one run (the first stage)")
    return None, (value,)


def _step_params(path: Path, spec: _Map, params: _Map, step: str, retriever: str | None, n_inputs: int) -> dict:
    """The pipeline's params checked against its step's schema (retrieval.steps), refused at the key's line."""
    try:
        return step_spec(step, retriever).checked(params, n_inputs)
    except ParamError as exc:
        line = getattr(params, "key_lines", {}).get(exc.key, spec.key_lines.get("params", spec.line))
        raise ManifestError(path, line, f"pipeline {spec.get('name')!r}: {exc}") from None


def _check_references(m: Manifest) -> None:
    known: dict[tuple[str, str], int] = {}
    for r in m.runs:
        known[(r.collection, r.name)] = r.line
    for p in m.pipelines:
        if (p.collection, p.name) in known:
            raise ManifestError(m.path, p.line, f"pipeline {p.name!r} reuses the name of another run in {p.collection}")
        known[(p.collection, p.name)] = p.line
    for p in m.pipelines:
        for dep in p.inputs:
            if (p.collection, dep) not in known:
                raise ManifestError(m.path, p.line, f"pipeline {p.name!r} reads run {dep!r}, which nothing declares")
    for r in m.runs:
        if r.parent and (r.collection, r.parent) not in known:
            raise ManifestError(m.path, r.line, f"run {r.name!r} names parent {r.parent!r}, which nothing declares")


def _topological(m: Manifest) -> list[PipelineSpec]:
    by_name = {(p.collection, p.name): p for p in m.pipelines}
    order: list[PipelineSpec] = []
    state: dict[tuple[str, str], int] = {}

    def visit(key, chain):
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            cycle = " -> ".join(k[1] for k in [*chain[chain.index(key):], key])
            raise ManifestError(m.path, by_name[key].line, f"pipelines form a cycle: {cycle}")
        state[key] = 1
        for dep in by_name[key].inputs:
            if (key[0], dep) in by_name:
                visit((key[0], dep), [*chain, key])
        state[key] = 2
        order.append(by_name[key])

    for key in by_name:
        visit(key, [])
    return order
