"""What a lake holds, read from its entry tables only (no data file is opened)."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from workbench.errors import NotFoundError, WorkbenchError
from workbench.lake.tables import Lake


def lake_summary(uri: str, *, collection: str | None = None, storage_options: dict[str, str] | None = None) -> dict:
    """{lake, versions, collections: [{name, qrels_hash, runs, score_sets}], runs: [...] of `collection`}."""
    lake = Lake(uri, storage_options)
    if not lake.exists():
        raise WorkbenchError(f"no workbench lake at {lake.uri}", hint="push one with `workbench lake push --to URI`")
    collections = lake.read("collections").sort_by("name").to_pylist()
    runs = lake.read("runs", columns=["collection", "name", "run_hash", "kind", "n_queries", "n_rows"])
    sets = lake.read("score_sets", columns=["collection", "qrels_hash"])
    if collection is not None and collection not in {c["name"] for c in collections}:
        raise NotFoundError(f"no collection named {collection!r} in the lake")
    out: dict[str, Any] = {"lake": lake.uri, "versions": lake.versions(), "collections": [], "runs": []}
    for c in collections:
        mine = pc.field("collection") == c["name"]
        out["collections"].append({
            "name": c["name"], "relevance_kind": c["relevance_kind"], "qrels_hash": c["qrels_hash"],
            "runs": runs.filter(mine).num_rows,
            "score_sets": sets.filter(mine & (pc.field("qrels_hash") == c["qrels_hash"])).num_rows})
    if collection is not None:
        out["runs"] = runs.filter(pc.field("collection") == collection).sort_by("name").drop_columns(
            ["collection"]).to_pylist()
    return out
