"""Make runs with the retrieval stages and land them in the store like any other run.

Each produced run is written as a TREC file with an ir_metadata header (how it was made) and ingested with its
kind, parent, depth, parameters and software versions. A run is rebuilt only when its recipe changes: the step,
its parameters, the content of its inputs (documents, topics, input runs) — all hashed into `recipe_hash`.

Nothing the user owns is replaced: a name already taken in the store is refused unless the caller says `replace`
(the CLI's `--replace`, the dashboard's confirmation; `build` for runs its own pipelines made), and the TREC file
never lands on a path that holds a file the workbench did not produce for this run. The file is written beside
its final path, ingested from there, and renamed into place only once the store has committed the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from workbench import interrupts
from workbench.env import env_text
from workbench.errors import ConflictError, NotFoundError, WorkbenchError
from workbench.files import ensure_folder
from workbench.hashing import sha256_file
from workbench.io import _yaml
from workbench.io.runs import META_END, META_START
from workbench.io.trec_writer import write_run
from workbench.model import RunInfo
from workbench.naming import check_name
from workbench.retrieval.steps import StepInputs, step_spec
from workbench.services.ingest import IngestResult, ingest_run
from workbench.services.runs import safe_child
from workbench.store import Store, get_collection, get_documents, get_qrels, get_run, get_run_rows, get_topics


@dataclass(frozen=True)
class Recipe:
    """What a produced run is a function of."""

    collection: str
    name: str
    step: str  # "retrieve", or the name of a fuse- or rerank-kind step (fuse, rerank, a plugin's)
    retriever: str | None  # a retrieve step's name
    inputs: tuple[str, ...]
    params: dict


def fused_run_name(method: str, inputs: Sequence[str]) -> str:
    """The default name of a fused run, e.g. rrf-bm25+dense-minilm (a valid run name, unlike rrf(a,b))."""
    return step_spec("fuse").run_name(tuple(inputs), {"method": method})


def _recipe_hash(store: Store, r: Recipe) -> str:
    info = get_collection(store, r.collection)
    inputs = {name: get_run(store, r.collection, name).run_hash for name in r.inputs}
    payload = {
        "step": r.step, "retriever": r.retriever, "inputs": inputs, "params": r.params,
        "docs": info.docs_hash, "topics": info.topics_hash, "qrels": info.qrels_hash,
    }
    origin = step_spec(r.step, r.retriever).origin
    if origin is not None:  # a plugin's upgrade rebuilds its runs (built-in steps' hashes stay as they were)
        payload["plugin"] = origin
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def default_runs_dir(store: Store) -> Path:
    """Where produced runs are written: $WORKBENCH_RUNS_DIR, else a `runs` folder beside the store file (never the
    installation's folder, nor wherever the process happens to run)."""

    env = env_text("WORKBENCH_RUNS_DIR")  # a newline or tab in it is refused, naming the variable
    return Path(env) if env else Path(os.path.abspath(store.path)).parent / "runs"


def made_by_step(info: RunInfo, step: str) -> bool:
    """Whether a stored run was produced by a workbench step of this kind (its params record the step and the
    recipe hash), as opposed to a file a user ingested: `build` may rebuild such a run when its recipe changes."""
    return info.params.get("step") == step and isinstance(info.params.get("recipe_hash"), str)


def stored_run(store: Store, collection: str, name: str) -> RunInfo | None:
    try:
        return get_run(store, collection, name)
    except NotFoundError:
        return None


def name_taken(r: Recipe, existing: RunInfo) -> ConflictError:
    origin = (f"made by another {existing.params['step']} recipe" if isinstance(existing.params.get("recipe_hash"), str)
              else "from " + (existing.source_path or "a file you ingested"))
    return ConflictError(f"run {r.name!r} already exists in collection {r.collection!r} ({origin})",
                         hint="pass --replace to replace it, or --name to store this run under another name")


def is_current(store: Store, r: Recipe, recipe_hash: str | None = None) -> bool:
    """Whether the stored run was made by this recipe (pass `recipe_hash` when it is already computed)."""
    try:
        run = get_run(store, r.collection, r.name)
    except NotFoundError:
        return False
    return run.params.get("recipe_hash") == (recipe_hash or _recipe_hash(store, r))


def judged_topics(store: Store, collection: str) -> pa.Table:
    """Topics of the judged queries only: runs on other queries would never be scored."""
    topics = get_topics(store, collection)
    if topics.num_rows == 0:
        raise WorkbenchError(f"collection {collection!r} has no topics; add it with --topics to retrieve")
    judged = pc.unique(get_qrels(store, collection).column("query_id"))
    return topics.filter(pc.is_in(topics.column("query_id"), value_set=judged))


def _documents(store: Store, collection: str) -> pa.Table:
    docs = get_documents(store, collection)
    if docs.num_rows == 0:
        raise WorkbenchError(f"collection {collection!r} has no documents; add it with --docs to retrieve")
    return docs


def produce(store: Store, r: Recipe, *, runs_dir: str | Path, threads: int = 1, force: bool = False,
            replace: bool = False, progress=None, engine=None) -> IngestResult:
    """Run one step (unless its recipe is unchanged), write runs_dir/<collection>/<name>.trec, ingest it.

    A run already stored under the name is replaced only with `replace` (or, with `force`, when it is this very
    recipe's run); otherwise ConflictError, before any work. WorkbenchError, before any work, when the file's
    path holds something the workbench did not produce for this run, or the folder cannot be written.
    `engine` (workbench.engine) encodes a dense retrieval's corpus on its workers; the run is the same.
    """

    check_name(r.name)
    step = step_spec(r.step, r.retriever)
    step.check_arity(len(r.inputs))
    params = step.checked(r.params, len(r.inputs))  # the manifest's and CLI's rules
    recipe_hash = _recipe_hash(store, r)
    existing = stored_run(store, r.collection, r.name)
    if existing is not None:
        same_recipe = existing.params.get("recipe_hash") == recipe_hash
        if same_recipe and not force:
            return IngestResult(existing, "unchanged")
        if not (replace or (force and same_recipe)):
            raise name_taken(r, existing)
    out_dir = ensure_folder(Path(runs_dir) / check_name(r.collection, "collection"))
    path = safe_child(out_dir, f"{r.name}.trec")
    check_file_is_ours(path, r, existing)
    inputs = StepInputs(r.collection, r.inputs, documents=lambda: _documents(store, r.collection),
                        topics=lambda: judged_topics(store, r.collection),
                        runs=lambda: [get_run_rows(store, r.collection, name) for name in r.inputs],
                        threads=threads, progress=progress, engine=engine)
    result = step.produce(inputs, params)
    parent = step.parent(r.inputs)
    depth = step.depth(params)
    meta = {
        "run": r.name, "collection": r.collection, "step": r.step, "retriever": r.retriever,
        "inputs": list(r.inputs), "parent": parent, "depth": depth, "params": result.params,
        "software": result.software, "recipe_hash": recipe_hash,
    }
    tmp = out_dir / f".{r.name}.trec.{secrets.token_hex(6)}.producing"
    commits = interrupts.commits()  # a Ctrl-C after the ingest committed, even before it returned: the run is stored
    try:
        write_run(tmp, result.run, tag=r.name, metadata={k: v for k, v in meta.items() if v not in (None, [], {})})
        outcome = ingest_run(
            store, r.collection, tmp, name=r.name, kind=step.run_kind, parent=parent, depth=depth,
            replace=existing is not None, source_path=str(path),
            params={**result.params, "step": r.step, "inputs": list(r.inputs), "recipe_hash": recipe_hash},
            software=result.software,
        )
        check_file_is_ours(path, r, existing)
    except KeyboardInterrupt:
        _settle(tmp, path, committed=interrupts.commits() > commits)
        raise
    except BaseException:
        _settle(tmp, path, committed=False)
        raise
    _settle(tmp, path, committed=True)
    return outcome


def _settle(tmp: Path, path: Path, *, committed: bool) -> None:
    """The produced file takes its place once the store holds the run; else it is removed."""
    with interrupts.held():
        if committed:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise WorkbenchError(f"{path}: the run is stored, but its file could not be put in place: "
                                     f"{exc.strerror or exc} (it is at {tmp})") from exc
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()


_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_file_is_ours(path: Path, r: Recipe, existing: RunInfo | None) -> None:
    """Refuse to write over `path` unless it is absent or a file the workbench produced for this run.

    Ours means: a regular file whose ir_metadata header names this run, this collection, a step and a recipe
    hash, and, when the store holds the run made from that recipe, whose bytes are that run's (not edited since).
    """
    if not os.path.lexists(path):
        return
    header = produced_header(path) if path.is_file() and not path.is_symlink() else None
    ours = (isinstance(header, dict) and header.get("run") == r.name and header.get("collection") == r.collection
            and isinstance(header.get("step"), str)
            and _HEX64.fullmatch(str(header.get("recipe_hash", ""))) is not None)
    if ours and isinstance(header, dict) and existing is not None \
            and existing.params.get("recipe_hash") == header["recipe_hash"]:
        ours = sha256_file(path) == existing.run_hash
    if not ours:
        raise WorkbenchError(
            f"{path}: a file the workbench did not produce for run {r.name!r} is in the way; it was left as it is",
            hint="move it, or write the run elsewhere with --runs-dir or under another --name")


def produced_header(path: Path, limit: int = 1 << 20) -> dict | None:
    """The ir_metadata header at the top of a TREC file as a mapping (None when there is none, or not YAML)."""
    import yaml


    try:
        with open(path, "rb") as fh:
            head = fh.read(limit)
    except OSError:
        return None
    lines = head.decode("utf-8", errors="replace").splitlines()
    comments = []
    for line in lines:
        if not line.startswith("#"):
            break
        comments.append(line[1:][1:] if line[1:].startswith(" ") else line[1:])
    markers = [c.strip() for c in comments]
    if META_START not in markers or META_END not in markers[markers.index(META_START):]:
        return None
    start = markers.index(META_START)
    body = comments[start + 1: markers.index(META_END, start)]
    try:
        header = _yaml.safe_load("\n".join(body))  # a foreign file's header: an alias bomb is a YAMLError here
    except yaml.YAMLError:
        return None
    return header if isinstance(header, dict) else None
