"""Write stored runs back out as TREC files, never outside the chosen folder."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.files import ensure_folder
from workbench.io.run_metadata import join_header
from workbench.io.trec_writer import write_run
from workbench.naming import check_name
from workbench.store import Store, get_run, get_run_rows, list_runs


def safe_child(folder: str | Path, filename: str) -> Path:
    """folder/filename, refusing anything that would resolve outside folder."""
    base = Path(folder).resolve()
    target = (base / filename).resolve()
    if target.parent != base:
        raise WorkbenchError(f"refusing to write {filename!r} outside {base}")
    return target


def export_runs(store: Store, collection: str, names: list[str] | None, out_dir: str | Path, *,
                plain: bool = False, replace: bool = False) -> list[Path]:
    """Write runs as `<name>.trec` into `out_dir`: each with its stored ir_metadata header and the workbench's
    record of it (kind, parent, depth, params, software; see io.run_metadata), which ingest reads back; with
    `plain`, the 6-column lines only (what ir_measures.read_trec_run and other tools read).

    A `<name>.trec` already in the folder is the user's until they say otherwise: without `replace` every target
    is checked before any is written, and a taken one is refused with its path."""

    infos = [get_run(store, collection, name) for name in names] if names else list_runs(store, collection)
    ensure_folder(out_dir)  # one line when it is a file or cannot be made; each file goes through a temp + rename
    targets = [safe_child(out_dir, f"{check_name(info.name)}.trec") for info in infos]
    taken = [t for t in targets if t.exists() or t.is_symlink()]
    if taken and not replace:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise WorkbenchError(f"{taken[0]}: already exists{more}; nothing was written (add --replace to write over "
                             "the files of the runs exported, or choose another --out-dir)")
    written = []
    for info, target in zip(infos, targets, strict=True):
        name = info.name
        record = {"run": info.name, "collection": collection, "kind": info.kind, "parent": info.parent,
                  "depth": info.depth, "params": info.params, "software": info.software}
        write_run(target, get_run_rows(store, collection, name), tag=info.run_tag or info.name,
                  metadata=None if plain else join_header(info.metadata_header, record))
        written.append(target)
    return written
