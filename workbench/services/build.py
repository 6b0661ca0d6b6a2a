"""`workbench build`: bring the store up to date with data_manifest.yaml, doing only what is out of date.

Order: collections, then declared run files, then pipelines in dependency order (a fused or reranked run after
its inputs), then benchmarks (named groups of the collections). Collections and run files are content-addressed
(same bytes: no-op); pipelines are rebuilt only when their recipe hash changes (see workbench.services.produce).

What build may replace without being told: what build itself put there. That is a collection whose stored source
names the files (or the ir_datasets id) the manifest names, a run ingested from the very file the manifest's
`runs:` entry names, a run a workbench step of the pipeline's kind produced (its params record the step and
recipe hash), and a benchmark this manifest defined. Those are updated when the manifest or the files change (new
content, or a manifest edit of kind, parent or depth). Anything else under a manifest name (a collection added from
other files, a run ingested by hand, a benchmark defined with `benchmark add`) is refused before anything is
written, unless `replace=True` (`build --replace`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import ConflictError, NotFoundError, StoreError, WorkbenchError
from workbench.hashing import sha256_file
from workbench.io.runs import read_run
from workbench.model import RunInfo, RunKind
from workbench.services.collection import add_collection
from workbench.services.ingest import ingest_run
from workbench.services.manifest import CollectionSpec, Manifest, RunSpec
from workbench.services.produce import Recipe, made_by_step, produce, stored_run
from workbench.store import (
    BenchmarkInfo,
    CollectionInfo,
    Store,
    get_benchmark,
    get_collection,
    list_runs,
    put_benchmark,
    same_metadata,
)

Event = Callable[[str, str, str], None]  # (what, name, status)


@dataclass
class BuildReport:
    collections: dict[str, str] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, str] = field(default_factory=dict)
    benchmarks: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"collections": self.collections, "runs": self.runs, "pipelines": self.pipelines,
                "benchmarks": self.benchmarks}

    @property
    def changed(self) -> int:
        return sum(s != "unchanged" for d in (self.collections, self.runs, self.pipelines, self.benchmarks)
                   for s in d.values())


def steps(manifest: Manifest) -> int:
    return len(manifest.collections) + len(manifest.runs) + len(manifest.pipelines) + len(manifest.benchmarks)


@dataclass
class _Build:
    """One build's settings and report, shared by its stages."""

    store: Store
    manifest: Manifest
    runs_dir: Path
    threads: int
    on_event: Event | None
    progress: object
    only_collections: set[str] | None
    replace: bool
    report: BuildReport = field(default_factory=BuildReport)

    def tell(self, what: str, name: str, status: str) -> None:
        if self.on_event:
            self.on_event(what, name, status)

    def wanted(self, collection: str) -> bool:
        return self.only_collections is None or collection in self.only_collections


def build(store: Store, manifest: Manifest, *, runs_dir: str | Path | None = None, threads: int = 1,
          on_event: Event | None = None, progress=None, only_collections: set[str] | None = None,
          replace: bool = False) -> BuildReport:
    """Bring the store up to date with the manifest; `replace` lets it replace what it did not put there."""
    unknown = sorted(set(only_collections or ()) - set(manifest.collections))
    if unknown:
        raise WorkbenchError(f"{manifest.path}: no collection {', '.join(map(repr, unknown))} in the manifest "
                             f"(it has {', '.join(manifest.collections) or 'none'})")
    b = _Build(store, manifest, Path(runs_dir) if runs_dir else manifest.path.parent / "runs", threads, on_event,
               progress, only_collections, replace)
    if not replace and store.path.exists():
        refuse_foreign(store, manifest, b.wanted)
    _build_collections(b)
    _build_runs(b)
    _build_pipelines(b)
    _build_benchmarks(b)
    return b.report


def _build_collections(b: _Build) -> None:
    for spec in b.manifest.collections.values():
        if not b.wanted(spec.name):
            continue
        owned = b.replace or _owns_collection(b.store, spec)
        try:
            _, changed = add_collection(
                b.store, spec.name, qrels=spec.qrels, topics=spec.topics, docs=spec.docs,
                ir_datasets_id=spec.ir_datasets, relevance_kind=spec.relevance, replace=owned,
                topic_field=spec.topic_field, grade_map=spec.grade_map,
            )
        except ConflictError as exc:
            raise ConflictError(f"collection {spec.name!r} in the store was not added from the files "
                                f"{b.manifest.path} names, and holds other content",
                                hint="build --replace replaces it; or give the manifest's collection another "
                                     "name") from exc
        b.report.collections[spec.name] = "updated" if changed else "unchanged"
        b.tell("collection", spec.name, b.report.collections[spec.name])


def _build_runs(b: _Build) -> None:
    for run in b.manifest.runs:
        if not b.wanted(run.collection):
            continue
        existing = stored_run(b.store, run.collection, run.name)
        result = ingest_run(b.store, run.collection, run.file, name=run.name, kind=run.kind, parent=run.parent,
                            depth=run.depth,
                            replace=b.replace or (existing is not None and _owns_run(existing, run)))
        b.report.runs[f"{run.collection}/{run.name}"] = result.status
        b.tell("run", run.name, result.status)


def _build_pipelines(b: _Build) -> None:
    for pipe in b.manifest.pipeline_order():
        if not b.wanted(pipe.collection):
            continue
        recipe = Recipe(pipe.collection, pipe.name, pipe.step, pipe.retriever, pipe.inputs, pipe.params)
        existing = stored_run(b.store, pipe.collection, pipe.name)
        b.tell("pipeline", pipe.name, "building")
        result = produce(b.store, recipe, runs_dir=b.runs_dir, threads=b.threads, progress=b.progress,
                         replace=b.replace or (existing is not None and made_by_step(existing, pipe.step)))
        b.report.pipelines[f"{pipe.collection}/{pipe.name}"] = result.status
        b.tell("pipeline", pipe.name, result.status)


def _build_benchmarks(b: _Build) -> None:
    """Each benchmark whose collections this build covers (all of them, or those of `build -c`)."""
    for spec in b.manifest.benchmarks.values():
        if not all(b.wanted(c) for c in spec.collections):
            continue
        existing = _stored_benchmark(b.store, spec.name)
        owned = existing is not None and _owns_benchmark(existing, b.manifest)
        _, changed = put_benchmark(b.store, spec.name, spec.collections, description=spec.description,
                                   source=_benchmark_source(b.manifest), replace=b.replace or owned)
        b.report.benchmarks[spec.name] = "updated" if changed else "unchanged"
        b.tell("benchmark", spec.name, b.report.benchmarks[spec.name])


def _benchmark_source(manifest: Manifest) -> dict:
    return {"manifest": str(manifest.path.resolve())}


def _stored_benchmark(store: Store, name: str) -> BenchmarkInfo | None:
    try:
        return get_benchmark(store, name)
    except StoreError:  # none yet (or no store yet)
        return None


def _owns_benchmark(info: BenchmarkInfo, manifest: Manifest) -> bool:
    """A stored benchmark build may redefine: defined by this very manifest."""
    return _same_file(info.source.get("manifest"), manifest.path)


def refuse_foreign(store: Store, manifest: Manifest, wanted: Callable[[str], bool]) -> None:
    """ConflictError, before build writes anything, for the first manifest run or pipeline whose name the store
    holds from elsewhere with other content or metadata (collections are checked as they are read)."""
    stored: dict[str, dict[str, RunInfo]] = {}

    def runs_of(collection: str) -> dict[str, RunInfo]:
        if collection not in stored:
            try:
                get_collection(store, collection)
            except NotFoundError:  # not there yet: nothing of it can be in the way
                stored[collection] = {}
            else:
                stored[collection] = {r.name: r for r in list_runs(store, collection)}
        return stored[collection]

    for spec in manifest.runs:
        existing = runs_of(spec.collection).get(spec.name) if wanted(spec.collection) else None
        if existing is None or _owns_run(existing, spec):
            continue
        wants = RunInfo(spec.collection, spec.name, existing.run_hash,
                        kind=spec.kind or (RunKind.RERANK.value if spec.parent else RunKind.OTHER.value),
                        parent=spec.parent, depth=spec.depth)
        if sha256_file(spec.file) != existing.run_hash or not same_metadata(existing, wants):

            read_run(spec.file)  # a malformed file is the first thing to fix: its file:line error comes first
            raise ConflictError(
                f"run {spec.name!r} in collection {spec.collection!r} was not ingested from {spec.file}, "
                f"which {manifest.path.name} names for it, and differs from it",
                hint="build --replace replaces it; or give the manifest's run another name")
    for pipe in manifest.pipelines:
        existing = runs_of(pipe.collection).get(pipe.name) if wanted(pipe.collection) else None
        if existing is not None and not made_by_step(existing, pipe.step):
            raise ConflictError(
                f"run {pipe.name!r} in collection {pipe.collection!r} was not produced by a {pipe.step} step "
                f"(it came from {existing.source_path or 'elsewhere'}); {manifest.path.name} would replace it",
                hint="build --replace replaces it; or give the manifest's pipeline another name")
    _refuse_foreign_benchmarks(store, manifest, wanted)


def _refuse_foreign_benchmarks(store: Store, manifest: Manifest, wanted: Callable[[str], bool]) -> None:
    """ConflictError for a manifest benchmark whose name the store holds from elsewhere with another definition."""
    for spec in manifest.benchmarks.values():
        if not all(wanted(c) for c in spec.collections):
            continue
        existing = _stored_benchmark(store, spec.name)
        if existing is None or _owns_benchmark(existing, manifest):
            continue
        if existing.collections != spec.collections or existing.description != spec.description:
            raise ConflictError(
                f"benchmark {spec.name!r} in the store was not defined by {manifest.path.name}, and names "
                f"{', '.join(existing.collections)}", hint="build --replace redefines it; or give the manifest's "
                "benchmark another name")


def _same_file(recorded: str | list[str] | None, path: Path | tuple[Path, ...] | None) -> bool:
    """Whether a recorded source path names `path` (relative ones are read from the current folder); a list of
    documents files (or folders) names the same list, in order."""
    if isinstance(recorded, list) or isinstance(path, tuple):
        recorded_all = recorded if isinstance(recorded, list) else [recorded]
        paths = path if isinstance(path, tuple) else (path,)
        return len(recorded_all) == len(paths) and all(map(_same_file, recorded_all, paths))
    if not recorded or path is None:
        return recorded is None and path is None
    try:
        return os.path.samefile(recorded, path)
    except OSError:
        return os.path.abspath(recorded) == os.path.abspath(path)


def _owns_run(info: RunInfo, spec: RunSpec) -> bool:
    """A stored run build may replace: ingested from the file the manifest's entry names."""
    return _same_file(info.source_path, spec.file)


def _owns_collection(store: Store, spec: CollectionSpec) -> bool:
    """A stored collection build may replace: added from the files (or the ir_datasets id) the manifest names."""
    info: CollectionInfo | None
    try:
        info = get_collection(store, spec.name)
    except StoreError:
        return True  # none (or no store yet, or not a store, which adding refuses): it replaces nothing
    source = info.source
    if spec.ir_datasets:
        return source.get("ir_datasets") == spec.ir_datasets
    return all(_same_file(source.get(key), getattr(spec, key)) for key in ("qrels", "topics", "docs"))
