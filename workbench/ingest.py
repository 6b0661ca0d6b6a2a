"""Ingest run files: read and validate outside the store lock, then store in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench import __version__
from workbench.errors import InputFormatError, NotFoundError, WorkbenchError
from workbench.hashing import sha256_file
from workbench.model import RunInfo, RunKind
from workbench.naming import check_name
from workbench.store import Store, get_qrels, get_run, put_run

RUN_KINDS = tuple(k.value for k in RunKind)


@dataclass(frozen=True)
class IngestResult:
    info: RunInfo
    status: str  # "added" | "replaced" | "unchanged"

    def to_dict(self) -> dict:
        return {"run": self.info.name, "collection": self.info.collection, "status": self.status,
                "run_hash": self.info.run_hash, "n_queries": self.info.n_queries, "n_rows": self.info.n_rows,
                "warnings": list(self.info.warnings)}


def run_name_for(path: str | Path) -> str:
    """The file stem, without compression and run suffixes (bm25.trec.gz -> bm25)."""
    name = Path(path).name
    for suffix in (".gz", ".trec", ".run", ".txt", ".tsv"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def ingest_run(
    store: Store,
    collection: str,
    path: str | Path,
    *,
    name: str | None = None,
    kind: str | None = None,
    parent: str | None = None,
    depth: int | None = None,
    replace: bool = False,
    params: dict | None = None,
    software: dict | None = None,
    source_path: str | None = None,
) -> IngestResult:
    """Validate one TREC run file and store it, all or nothing.

    Re-ingesting the same bytes under the same name is a no-op; different bytes under an existing name
    need `replace`. Nothing is written before the whole file has been read and checked. `source_path` records
    where the file came from when `path` is a temporary copy (a dashboard upload).
    """
    from workbench.io.runs import read_run
    from workbench.io.validate import run_format_warnings, run_qrels_warnings

    path = Path(path)
    name = check_name(name or run_name_for(path))
    if kind is not None and kind not in RUN_KINDS:
        raise WorkbenchError(f"unknown run kind {kind!r}; expected one of {', '.join(RUN_KINDS)}")
    if depth is not None and depth < 1:
        raise WorkbenchError(f"rerank depth must be a positive integer, got {depth}")
    if not path.is_file():
        raise InputFormatError(path, None, "no such file")
    digest = sha256_file(path)
    try:
        existing = get_run(store, collection, name)
    except NotFoundError:
        existing = None
    if existing is not None and existing.run_hash == digest:
        return IngestResult(existing, "unchanged")
    if parent is not None:
        get_run(store, collection, parent)  # the first stage must exist: a clear error now, not in analysis

    parsed = read_run(path)
    if parsed.sha256 != digest:
        raise WorkbenchError(f"{path}: the file changed while it was being ingested; try again")
    qrels = get_qrels(store, collection)
    warnings = [*parsed.warnings, *run_format_warnings(parsed.table), *run_qrels_warnings(parsed.table, qrels)]
    info = RunInfo(
        collection=collection,
        name=name,
        run_hash=digest,
        kind=kind or (RunKind.RERANK.value if parent else RunKind.OTHER.value),
        parent=parent,
        depth=depth,
        source_path=source_path or str(path),
        run_tag=",".join(parsed.run_tags) or None,
        n_queries=len(set(parsed.table.column("query_id").unique().to_pylist())),
        n_rows=parsed.table.num_rows,
        metadata_header=parsed.metadata_header,
        params=params or {},
        software={"workbench": __version__, **(software or {})},
        warnings=tuple(dict.fromkeys(warnings)),
    )
    stored, status = put_run(store, info, parsed.table, replace=replace)
    return IngestResult(stored, status)


def ingest_runs(
    store: Store,
    collection: str,
    paths: Sequence[str | Path],
    *,
    on_done: Callable[[Path, IngestResult | WorkbenchError], None] | None = None,
    keep_going: bool = False,
    **options,
) -> list[IngestResult]:
    """Ingest many files, each all-or-nothing. Stops at the first bad file unless `keep_going`."""
    if options.get("name") and len(paths) > 1:
        raise WorkbenchError("--name applies to a single file; drop it to name runs by their file stems")
    results: list[IngestResult] = []
    errors: list[WorkbenchError] = []
    for path in paths:
        try:
            result = ingest_run(store, collection, path, **options)
        except WorkbenchError as exc:
            if on_done:
                on_done(Path(path), exc)
            if not keep_going:
                raise
            errors.append(exc)
            continue
        results.append(result)
        if on_done:
            on_done(Path(path), result)
    if errors:
        raise errors[0] if len(errors) == 1 else WorkbenchError(
            f"{len(errors)} of {len(paths)} files were refused; first: {errors[0]}")
    return results
