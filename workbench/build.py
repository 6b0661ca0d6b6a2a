"""`workbench build`: bring the store up to date with data_manifest.yaml, doing only what is out of date.

Order: collections, then declared run files, then pipelines in dependency order (a fused or reranked run after
its inputs). Collections and run files are content-addressed (same bytes: no-op); pipelines are rebuilt only when
their recipe hash changes (see workbench.produce).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.collections import add_collection
from workbench.errors import WorkbenchError
from workbench.ingest import ingest_run
from workbench.manifest import Manifest
from workbench.produce import Recipe, produce
from workbench.store import Store

Event = Callable[[str, str, str], None]  # (what, name, status)


@dataclass
class BuildReport:
    collections: dict[str, str] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"collections": self.collections, "runs": self.runs, "pipelines": self.pipelines}

    @property
    def changed(self) -> int:
        return sum(s != "unchanged" for d in (self.collections, self.runs, self.pipelines) for s in d.values())


def steps(manifest: Manifest) -> int:
    return len(manifest.collections) + len(manifest.runs) + len(manifest.pipelines)


def build(store: Store, manifest: Manifest, *, runs_dir: str | Path | None = None, threads: int = 1,
          on_event: Event | None = None, progress=None, only_collections: set[str] | None = None) -> BuildReport:
    unknown = sorted(set(only_collections or ()) - set(manifest.collections))
    if unknown:
        raise WorkbenchError(f"{manifest.path}: no collection {', '.join(map(repr, unknown))} in the manifest "
                             f"(it has {', '.join(manifest.collections) or 'none'})")
    runs_dir = Path(runs_dir) if runs_dir else manifest.path.parent / "runs"
    report = BuildReport()

    def tell(what: str, name: str, status: str) -> None:
        if on_event:
            on_event(what, name, status)

    def wanted(collection: str) -> bool:
        return only_collections is None or collection in only_collections

    for spec in manifest.collections.values():
        if not wanted(spec.name):
            continue
        _, changed = add_collection(
            store, spec.name, qrels=spec.qrels, topics=spec.topics, docs=spec.docs,
            ir_datasets_id=spec.ir_datasets, relevance_kind=spec.relevance, replace=True,
            topic_field=spec.topic_field, grade_map=spec.grade_map,
        )
        report.collections[spec.name] = "updated" if changed else "unchanged"
        tell("collection", spec.name, report.collections[spec.name])
    for spec in manifest.runs:
        if not wanted(spec.collection):
            continue
        result = ingest_run(store, spec.collection, spec.file, name=spec.name, kind=spec.kind, parent=spec.parent,
                            depth=spec.depth, replace=True)
        report.runs[f"{spec.collection}/{spec.name}"] = result.status
        tell("run", spec.name, result.status)
    for spec in manifest.pipeline_order():
        if not wanted(spec.collection):
            continue
        recipe = Recipe(spec.collection, spec.name, spec.step, spec.retriever, spec.inputs, spec.params)
        tell("pipeline", spec.name, "building")
        result = produce(store, recipe, runs_dir=runs_dir, threads=threads, progress=progress)
        report.pipelines[f"{spec.collection}/{spec.name}"] = result.status
        tell("pipeline", spec.name, result.status)
    return report
