"""Write stored runs back out as TREC files, never outside the chosen folder."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.files import ensure_folder
from workbench.naming import check_name
from workbench.store import Store, get_run, get_run_rows, list_runs


def safe_child(folder: str | Path, filename: str) -> Path:
    """folder/filename, refusing anything that would resolve outside folder."""
    base = Path(folder).resolve()
    target = (base / filename).resolve()
    if target.parent != base:
        raise WorkbenchError(f"refusing to write {filename!r} outside {base}")
    return target


def export_runs(store: Store, collection: str, names: list[str] | None, out_dir: str | Path) -> list[Path]:
    from workbench.io.trec_writer import write_run

    infos = [get_run(store, collection, name) for name in names] if names else list_runs(store, collection)
    ensure_folder(out_dir)  # one line when it is a file or cannot be made; each file goes through a temp + rename
    written = []
    for info in infos:
        name = info.name
        target = safe_child(out_dir, f"{check_name(info.name)}.trec")
        meta = {"run": info.name, "collection": collection, "kind": info.kind, "parent": info.parent,
                "depth": info.depth, "params": info.params, "software": info.software}
        write_run(target, get_run_rows(store, collection, name), tag=info.run_tag or info.name,
                  metadata={k: v for k, v in meta.items() if v not in (None, {}, "")})
        written.append(target)
    return written
