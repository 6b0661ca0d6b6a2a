"""`lake push` and `lake pull`: a store's collections, runs and score sets to and from a lake, content-addressed.

Push checks every name against the lake before it writes anything (a collection or run name the lake holds with
other content is refused: the lake is shared, and nothing another user pushed is replaced), then writes each
collection's data, its runs' rows, their entries and their score sets, data before entries (see tables.py).
Pushing the same store twice writes nothing the second time.

Pull does the same the other way: every name is checked against the store first (a run name the store holds with
other bytes is refused unless `replace`, which the CLI allows only for runs named with -r), then each run lands
with its score sets in one store transaction, after its rows were checked against the entry's row count and rows
hash. Pulling twice adds nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from workbench.errors import ConflictError, NotFoundError, WorkbenchError
from workbench.lake.tables import TABLES, Lake, dumps, now, process_tag, with_columns
from workbench.model import RunInfo
from workbench.naming import check_name
from workbench.store import CollectionInfo, Store, get_collection, list_collections, list_runs
from workbench.store.exchange import (
    SCORE_KEY,
    collection_record,
    collection_tables,
    put_pulled_collection,
    put_pulled_run,
    put_pulled_scores,
    run_rows_reader,
    score_sets,
)

ROWS_PER_COMMIT = 10_000_000
"""Run rows written per lake commit: the small runs of a push share one commit (24 TREC DL runs: one), while a
few MS MARCO-sized runs stream through one at a time (the stream never holds more than one batch)."""

Report = Callable[[str], None]


@dataclass
class TransferReport:
    """What a push or pull did: per collection and run, "added", "unchanged" or "replaced"; score sets added."""

    lake: str
    collections: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    score_sets: int = 0

    def to_dict(self) -> dict:
        return {"lake": self.lake, "collections": self.collections, "runs": self.runs,
                "score_sets_added": self.score_sets}

    def summary(self, verb: str) -> str:
        def count(items, status):
            return sum(1 for i in items if i["status"] == status)

        runs = ", ".join(f"{count(self.runs, s)} {s}" for s in ("added", "replaced", "unchanged")
                         if count(self.runs, s))
        return (f"{verb} {len(self.collections)} collection(s), {len(self.runs)} run(s)"
                f"{f' ({runs})' if runs else ''}, {self.score_sets} score set(s) added")


class RowsHash:
    """sha256 of a run's rows in trec_eval order, whatever the batches they come in: one digest over the
    newline-ended `query_id<TAB>doc_id` lines, one over the scores' float64 bytes, one over the ranks' int64
    bytes, combined. Ids never hold tabs or newlines (ingest refuses them), so the text is unambiguous."""

    def __init__(self) -> None:
        self._text, self._score, self._rank = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        lines = pc.binary_join_element_wise(batch["query_id"], batch["doc_id"], pa.scalar("\n"), "\t")
        chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
        for chunk in chunks:
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset: chunk.offset + len(chunk) + 1]
            data = chunk.buffers()[2]
            if data is not None and offsets[-1] > offsets[0]:
                self._text.update(memoryview(data)[offsets[0]:offsets[-1]])
        self._score.update(np.ascontiguousarray(_numpy(batch["score"]), dtype="<f8").tobytes())
        self._rank.update(np.ascontiguousarray(_numpy(batch["rank"]), dtype="<i8").tobytes())

    def hexdigest(self) -> str:
        return hashlib.sha256(b"".join(h.digest() for h in (self._text, self._score, self._rank))).hexdigest()


def _numpy(col) -> np.ndarray:
    return col.to_numpy() if isinstance(col, pa.ChunkedArray) else col.to_numpy(zero_copy_only=False)


def rows_hash(rows: pa.Table) -> str:
    h = RowsHash()
    h.update(rows)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------ push
def push(store: Store, uri: str, *, collections: Sequence[str] | None = None, runs: Sequence[str] | None = None,
         storage_options: dict[str, str] | None = None, report: Report | None = None) -> TransferReport:
    """Push collections (all by default), their runs (all, or `runs` of the one collection) and the runs' score
    sets on the collection's current qrels to the lake at `uri` (created when absent)."""
    plan = _push_plan(store, collections, runs)
    lake = Lake(uri, storage_options)
    lake.check_target()
    lake.ensure_tables()
    names = [info.name for info, _ in plan]
    entries = {r["name"]: r for r in lake.read("collections").to_pylist()}
    lake_runs = _lake_runs(lake, names)
    _refuse_push_conflicts(plan, entries, lake_runs)
    out = TransferReport(lake.uri)
    for info, selected in plan:
        out.collections.append({"collection": info.name,
                                "status": _push_collection(lake, store, info, entries.get(info.name))})
        out.runs += _push_runs(lake, store, info, selected, lake_runs, report)
        out.score_sets += _push_scores(lake, store, info, [r.run_hash for r in selected])
        if report:
            report(f"pushed collection {info.name}")
    return out


def _push_plan(store: Store, collections: Sequence[str] | None,
               runs: Sequence[str] | None) -> list[tuple[CollectionInfo, list[RunInfo]]]:
    names = list(dict.fromkeys(collections)) if collections else [c.name for c in list_collections(store)]
    if runs and len(names) != 1:
        raise WorkbenchError("runs (-r) are named within one collection: give exactly one -c")
    if not names:
        raise WorkbenchError(f"{store.path}: the store has no collections to push")
    plan = []
    for name in names:
        info = get_collection(store, name)
        stored = {r.name: r for r in list_runs(store, name)}
        if runs:
            missing = [r for r in dict.fromkeys(runs) if r not in stored]
            if missing:
                raise NotFoundError(f"no run named {missing[0]!r} in collection {name!r}",
                                    hint=f"known: {', '.join(sorted(stored)[:12]) or 'none'}")
            plan.append((info, [stored[r] for r in dict.fromkeys(runs)]))
        else:
            plan.append((info, [stored[r] for r in sorted(stored)]))
    return plan


def _lake_runs(lake: Lake, collections: Sequence[str]) -> dict[tuple[str, str], dict]:
    rows = lake.read("runs", where=[("collection", "in", list(collections))]).to_pylist() if collections else []
    return {(r["collection"], r["name"]): checked_entry(lake, r) for r in rows}


_HASH = re.compile(r"[0-9a-f]{64}")


def checked_entry(lake: Lake, entry: dict) -> dict:
    """A run entry as the lake holds it, refused with one line when its names or hash are not ones the
    workbench writes (a lake is shared: what others wrote is input like any file)."""
    try:
        check_name(entry["collection"], "collection")
        check_name(entry["name"])
    except WorkbenchError as e:
        raise WorkbenchError(f"lake {lake.uri}: table 'runs': {e}") from None
    if not _HASH.fullmatch(entry["run_hash"] or "") or not _HASH.fullmatch(entry["rows_hash"] or ""):
        raise WorkbenchError(f"lake {lake.uri}: table 'runs': run {entry['name']!r} has a malformed hash")
    return entry


def _hashes(info: CollectionInfo | dict) -> tuple:
    get = info.get if isinstance(info, dict) else info.__dict__.get
    return get("qrels_hash"), get("topics_hash"), get("docs_hash")


def _refuse_push_conflicts(plan, entries: dict[str, dict], lake_runs: dict[tuple[str, str], dict]) -> None:
    for info, selected in plan:
        entry = entries.get(info.name)
        if entry is not None and _hashes(entry) != _hashes(info):
            raise ConflictError(f"collection {info.name!r} is in the lake with other qrels, topics or documents",
                                hint="push it under another collection name; the lake keeps what others pushed")
        taken = [r.name for r in selected
                 if (info.name, r.name) in lake_runs and lake_runs[(info.name, r.name)]["run_hash"] != r.run_hash]
        if taken:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise ConflictError(f"run {taken[0]!r}{more} of collection {info.name!r} is in the lake with other bytes",
                                hint="rename the local run (workbench runs set) or leave it out "
                                     "with -r; the lake keeps what others pushed")


def _push_collection(lake: Lake, store: Store, info: CollectionInfo, entry: dict | None) -> str:
    if entry is not None:
        return "unchanged"
    name = info.name
    _, qrels, topics, docs = collection_tables(store, name)
    for table, key, value, rows in (("qrels", "qrels_hash", info.qrels_hash, qrels),
                                    ("topics", "topics_hash", info.topics_hash, topics),
                                    ("documents", "docs_hash", info.docs_hash, docs)):
        if value is None or rows is None or rows.num_rows == 0:
            continue
        lake.write_partitions(table, {"collection": name, key: value},
                              partial(with_columns, rows, TABLES[table], collection=name, **{key: value}))
    record = _record_to(collection_record(info))
    row = pa.table({"name": [name], "relevance_kind": [info.relevance_kind], "qrels_hash": [info.qrels_hash],
                    "topics_hash": [info.topics_hash], "docs_hash": [info.docs_hash],
                    "source": [dumps(info.source)], "n_queries": [info.n_queries],
                    "n_judgments": [info.n_judgments], "n_topics": [info.n_topics], "n_docs": [info.n_docs],
                    **{k: pa.array([v], pa.string()) for k, v in record.items()}})
    inserted = lake.insert_new("collections", with_columns(row, TABLES["collections"], pushed_at=now()))
    if inserted:
        return "added"
    now_there = [r for r in lake.read("collections").to_pylist() if r["name"] == name]
    if now_there and _hashes(now_there[0]) != _hashes(info):  # another pusher won the name meanwhile
        raise ConflictError(f"collection {name!r} was pushed to the lake meanwhile with other content")
    return "unchanged"


def _push_runs(lake: Lake, store: Store, info: CollectionInfo, selected: list[RunInfo],
               lake_runs: dict[tuple[str, str], dict], report: Report | None) -> list[dict]:
    name = info.name
    new = [r for r in selected if (name, r.name) not in lake_runs]
    known_rows = {e["run_hash"]: e["rows_hash"] for e in lake_runs.values() if e["collection"] == name}
    hashes: dict[str, str] = {}
    present = {p["run_hash"] for p in lake.partitions("run_rows", [("collection", "=", name)])}
    todo = list({r.run_hash: r for r in new if r.run_hash not in present}.values())
    for batch in _batches(todo):
        hashers: dict[str, RowsHash] = {}
        lake.write_partitions("run_rows", {"collection": name, "run_hash": [r.run_hash for r in batch]},
                              partial(_rows_stream, store, name, batch, hashers))
        hashes.update({h: x.hexdigest() for h, x in hashers.items()})
        if report:
            report(f"pushed the rows of {len(batch)} run(s) of {name}")
    for run in new:  # rows the lake already had (another name, an interrupted push): hash them here
        if run.run_hash not in hashes:
            hashes[run.run_hash] = known_rows.get(run.run_hash) or _local_rows_hash(store, name, run.run_hash)
    if new:
        entries = pa.table({
            "name": [r.name for r in new], "run_hash": [r.run_hash for r in new],
            "rows_hash": [hashes[r.run_hash] for r in new], "kind": [str(r.kind) for r in new],
            "parent": [r.parent for r in new], "depth": pa.array([r.depth for r in new], pa.int64()),
            "source_path": [r.source_path for r in new], "run_tag": [r.run_tag for r in new],
            "n_queries": pa.array([r.n_queries for r in new], pa.int64()),
            "n_rows": pa.array([r.n_rows for r in new], pa.int64()),
            "metadata_header": [r.metadata_header for r in new], "params": [dumps(r.params) for r in new],
            "software": [dumps(r.software) for r in new], "warnings": [json.dumps(list(r.warnings)) for r in new],
            "ingested_at": [r.ingested_at for r in new]})
        lake.insert_new("runs", with_columns(entries, TABLES["runs"], collection=name, pushed_at=now()),
                        partition={"collection": name})
        after = _lake_runs(lake, [name])
        lost = [r.name for r in new if after[(name, r.name)]["run_hash"] != r.run_hash]
        if lost:  # another pusher took the name meanwhile with other bytes
            raise ConflictError(f"run {lost[0]!r} of collection {name!r} was pushed to the lake meanwhile with "
                                "other bytes", hint="rename the local run and push it again")
    return [{"collection": name, "run": r.name, "run_hash": r.run_hash,
             "status": "unchanged" if (name, r.name) in lake_runs else "added"} for r in selected]


def _batches(runs: list[RunInfo]) -> Iterator[list[RunInfo]]:
    batch: list[RunInfo] = []
    rows = 0
    for run in runs:
        if batch and rows + run.n_rows > ROWS_PER_COMMIT:
            yield batch
            batch, rows = [], 0
        batch.append(run)
        rows += run.n_rows
    if batch:
        yield batch


def _rows_stream(store: Store, collection: str, runs: list[RunInfo],
                 hashers: dict[str, RowsHash]) -> pa.RecordBatchReader:
    """The runs' rows as one stream in the lake's schema, hashing each run's rows on the way."""
    schema = TABLES["run_rows"].schema
    hashers.clear()

    def batches() -> Iterator[pa.RecordBatch]:
        for run in runs:
            hasher = hashers[run.run_hash] = RowsHash()
            with run_rows_reader(store, collection, [run.run_hash]) as reader:
                for batch in reader:
                    hasher.update(batch)
                    yield pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema],
                                                     schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _local_rows_hash(store: Store, collection: str, run_hash: str) -> str:
    hasher = RowsHash()
    with run_rows_reader(store, collection, [run_hash]) as reader:
        for batch in reader:
            hasher.update(batch)
    return hasher.hexdigest()


def _push_scores(lake: Lake, store: Store, info: CollectionInfo, run_hashes: list[str]) -> int:
    if not run_hashes:
        return 0
    sets, values = score_sets(store, run_hashes, info.qrels_hash)
    if sets.num_rows == 0:
        return 0
    there = _lake_score_keys(lake, info.name, run_hashes)
    new = sets.filter(pa.array([tuple(r[k] for k in SCORE_KEY) not in there for r in sets.to_pylist()]))
    if new.num_rows == 0:
        return 0
    return commit_scores(lake, info.name, new.select([*SCORE_KEY, "n_queries", "mean", "total"]),
                         _values_of(values, new), scored_by=f"push {process_tag()}")


def _lake_score_keys(lake: Lake, collection: str, run_hashes: Sequence[str]) -> set[tuple]:
    rows = lake.read("score_sets", where=[("collection", "=", collection)], columns=list(SCORE_KEY),
                     row_filter=ds.field("run_hash").isin(list(run_hashes)))
    return {tuple(r[k] for k in SCORE_KEY) for r in rows.to_pylist()}


def _values_of(values: pa.Table, sets: pa.Table) -> pa.Table:
    """The rows of `values` whose score set is in `sets` (a join on the key)."""
    keys = sets.select(list(SCORE_KEY))
    return values.join(keys, keys=list(SCORE_KEY), join_type="inner").select([*SCORE_KEY, "query_id", "value"])


def commit_scores(lake: Lake, collection: str, sets: pa.Table, values: pa.Table, *, scored_by: str) -> int:
    """Commit complete score sets: their per-query values first, then their entries (what makes them visible);
    keys the lake already has are left as they are. Returns how many entries were added."""
    run_hashes = pc.unique(sets["run_hash"]).to_pylist()
    lake.insert_new("scores", with_columns(values, TABLES["scores"], collection=collection),
                    partition={"collection": collection, "run_hash": run_hashes})
    return lake.insert_new("score_sets", with_columns(sets, TABLES["score_sets"], collection=collection,
                                                      scored_at=now(), scored_by=scored_by),
                           partition={"collection": collection})


# ------------------------------------------------------------------------------------------------------ pull
def pull(store: Store, uri: str, *, collections: Sequence[str] | None = None, runs: Sequence[str] | None = None,
         replace: bool = False, storage_options: dict[str, str] | None = None,
         report: Report | None = None) -> TransferReport:
    """Bring collections (all by default), their runs (all, or `runs` of the one collection) and the runs'
    score sets on the collection's qrels from the lake at `uri` into the store. `replace`: a run the store holds
    under the same name with other bytes is replaced (the CLI allows it for runs named with -r only)."""
    lake = Lake(uri, storage_options)
    if not lake.exists():
        raise WorkbenchError(f"no workbench lake at {lake.uri}", hint="push one with `workbench lake push --to URI`")
    # entries first, data after: every entry read here has its data committed before it
    entries = {check_name(r["name"], "collection"): r for r in lake.read("collections").to_pylist()}
    names = list(dict.fromkeys(collections)) if collections else sorted(entries)
    if runs and len(names) != 1:
        raise WorkbenchError("runs (-r) are named within one collection: give exactly one -c")
    missing = [n for n in names if n not in entries]
    if missing:
        raise NotFoundError(f"no collection named {missing[0]!r} in the lake",
                            hint=f"it has: {', '.join(sorted(entries)[:12]) or 'none'}")
    lake_runs = _lake_runs(lake, names)
    wanted = _pull_selection(names, lake_runs, runs)
    sets = lake.read("score_sets", where=[("collection", "in", names)]) if names else None
    local_colls, local_runs = refuse_pull_conflicts(store, [entries[n] for n in names], wanted, replace)
    out = TransferReport(lake.uri)
    for name in names:
        out.collections.append({"collection": name,
                                "status": _pull_collection(lake, store, entries[name], local_colls.get(name))})
        for entry in wanted[name]:
            status, added = _pull_run(lake, store, entry, entries[name]["qrels_hash"], sets,
                                      local_runs.get((name, entry["name"])), replace)
            out.runs.append({"collection": name, "run": entry["name"], "run_hash": entry["run_hash"],
                             "status": status})
            out.score_sets += added
            if report:
                report(f"{status} run {entry['name']} of {name}")
    return out


def _pull_selection(names: list[str], lake_runs: dict[tuple[str, str], dict],
                    runs: Sequence[str] | None) -> dict[str, list[dict]]:
    wanted: dict[str, list[dict]] = {}
    for name in names:
        there = {n: e for (c, n), e in lake_runs.items() if c == name}
        if runs:
            missing = [r for r in dict.fromkeys(runs) if r not in there]
            if missing:
                raise NotFoundError(f"no run named {missing[0]!r} in the lake's collection {name!r}",
                                    hint=f"it has: {', '.join(sorted(there)[:12]) or 'none'}")
            wanted[name] = [there[r] for r in dict.fromkeys(runs)]
        else:
            wanted[name] = [there[n] for n in sorted(there)]
    return wanted


def refuse_pull_conflicts(store: Store, entries: list[dict], wanted: dict[str, list[dict]], replace: bool):
    """Local collections and runs by name, after refusing any clash (nothing is written before this passes).
    `entries`: the lake's collection entries; `wanted`: the lake's run entries to pull, by collection."""
    if not store.path.exists():
        local_colls: dict[str, CollectionInfo] = {}
    else:
        local_colls = {c.name: c for c in list_collections(store)}
    local_runs: dict[tuple[str, str], RunInfo] = {}
    for entry in entries:
        name = entry["name"]
        local = local_colls.get(name)
        if local is not None and _hashes(local) != _hashes(entry):
            raise ConflictError(f"collection {name!r} exists in the store with other qrels, topics or documents "
                                "than the lake's", hint="pull into another store (--db)")
        if local is None:
            continue
        local_runs.update({(name, r.name): r for r in list_runs(store, name)})
        taken = [e["name"] for e in wanted[name] if (name, e["name"]) in local_runs
                 and local_runs[(name, e["name"])].run_hash != e["run_hash"]]
        if taken and not replace:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise ConflictError(f"run {taken[0]!r}{more} of collection {name!r} exists in the store with other "
                                "bytes than the lake's",
                                hint=f"pull the others with -r, or replace it by naming it: -c {name} -r "
                                     f"{taken[0]} --replace")
    return local_colls, local_runs


def _pull_collection(lake: Lake, store: Store, entry: dict, local: CollectionInfo | None) -> str:
    if local is not None:
        return "unchanged"
    name = entry["name"]

    def part(table: str, key: str, columns: list[str]) -> pa.Table | None:
        value = entry[key]
        if value is None:
            return None
        return lake.read(table, where=[("collection", "=", name), (key, "=", value)], columns=columns)

    qrels = part("qrels", "qrels_hash", ["query_id", "doc_id", "relevance"])
    topics = part("topics", "topics_hash", ["query_id", "text", "title", "description", "narrative"])
    docs = part("documents", "docs_hash", ["doc_id", "title", "text"])
    for what, table, count in (("judgments", qrels, entry["n_judgments"]), ("topics", topics, entry["n_topics"]),
                               ("documents", docs, entry["n_docs"])):
        have = 0 if table is None else table.num_rows
        if count is not None and have != count:
            raise WorkbenchError(f"lake {lake.uri}: collection {name!r} has {have} {what}; its entry says {count}")
    info = CollectionInfo(name=name, relevance_kind=entry["relevance_kind"], qrels_hash=entry["qrels_hash"],
                          topics_hash=entry["topics_hash"], docs_hash=entry["docs_hash"],
                          source=json.loads(entry["source"] or "{}"), n_queries=entry["n_queries"] or 0,
                          n_judgments=entry["n_judgments"] or 0, n_topics=entry["n_topics"] or 0,
                          n_docs=entry["n_docs"] or 0, created_at="")
    info = dataclasses.replace(info, **_record_from(entry, collection_record(info)))
    _, changed = put_pulled_collection(store, info, qrels, topics, docs)
    return "added" if changed else "unchanged"


def _record_to(record: dict) -> dict[str, str | None]:
    """COLLECTION_RECORD fields as the lake's strings: topic_field as is, the rest as JSON (the grade map as
    sorted [written, stored] pairs, as the store keeps it)."""
    out: dict[str, str | None] = {}
    for key, value in record.items():
        if value is None or key == "topic_field":
            out[key] = value
        elif key == "grade_map":
            out[key] = dumps(sorted(value.items()))
        else:
            out[key] = dumps(list(value) if key == "warnings" else value)
    return out


def _record_from(entry: dict, known: dict) -> dict:
    """The COLLECTION_RECORD fields this store knows (`known`), decoded from the lake's entry."""
    out: dict = {}
    for key in known:
        raw = entry.get(key)
        if raw is None:
            continue
        if key == "topic_field":
            out[key] = raw
        elif key == "grade_map":
            out[key] = {int(k): int(v) for k, v in json.loads(raw)}
        elif key == "warnings":
            out[key] = tuple(json.loads(raw))
        else:
            out[key] = json.loads(raw)
    return out


def _pull_run(lake: Lake, store: Store, entry: dict, qrels_hash: str, sets: pa.Table | None,
              local: RunInfo | None, replace: bool) -> tuple[str, int]:
    name, collection, run_hash = entry["name"], entry["collection"], entry["run_hash"]
    values = _lake_values(lake, collection, run_hash, qrels_hash, sets)
    if local is not None and local.run_hash == run_hash:
        return "unchanged", put_pulled_scores(store, values) if values.num_rows else 0
    rows = lake.read("run_rows", where=[("collection", "=", collection), ("run_hash", "=", run_hash)],
                     columns=["query_id", "doc_id", "score", "rank", "position"])
    rows = rows.sort_by([("query_id", "ascending"), ("position", "ascending")])
    if rows.num_rows != entry["n_rows"] or rows_hash(rows) != entry["rows_hash"]:
        raise WorkbenchError(f"lake {lake.uri}: run {name!r} of collection {collection!r}: its rows do not match "
                             f"its entry ({rows.num_rows} rows, entry says {entry['n_rows']}; or their hash differs)")
    info = RunInfo(collection=collection, name=name, run_hash=run_hash, kind=entry["kind"], parent=entry["parent"],
                   depth=entry["depth"], source_path=entry["source_path"], run_tag=entry["run_tag"],
                   n_queries=entry["n_queries"], n_rows=entry["n_rows"], metadata_header=entry["metadata_header"],
                   params=json.loads(entry["params"] or "{}"), software=json.loads(entry["software"] or "{}"),
                   warnings=tuple(json.loads(entry["warnings"] or "[]")))
    _, status, added = put_pulled_run(store, info, rows.select(["query_id", "doc_id", "score", "rank"]), values,
                                      replace=replace)
    return status, added


def _lake_values(lake: Lake, collection: str, run_hash: str, qrels_hash: str, sets: pa.Table | None) -> pa.Table:
    """The per-query values of the run's complete score sets on `qrels_hash` (those with an entry), checked
    against each entry's query count."""
    empty = pa.table({k: pa.array([], pa.string()) for k in (*SCORE_KEY, "query_id")}
                     | {"value": pa.array([], pa.float64())})
    if sets is None or sets.num_rows == 0:
        return empty
    mine = sets.filter((pc.field("run_hash") == run_hash) & (pc.field("qrels_hash") == qrels_hash))
    if mine.num_rows == 0:
        return empty
    values = lake.read("scores", where=[("collection", "=", collection), ("run_hash", "=", run_hash)],
                       columns=[*SCORE_KEY, "query_id", "value"], row_filter=ds.field("qrels_hash") == qrels_hash)
    values = _values_of(values, mine.select([*SCORE_KEY, "n_queries"]))
    counts = values.group_by(list(SCORE_KEY)).aggregate([("query_id", "count")])
    have = {tuple(r[k] for k in SCORE_KEY): r["query_id_count"] for r in counts.to_pylist()}
    for r in mine.to_pylist():
        key = tuple(r[k] for k in SCORE_KEY)
        if have.get(key, 0) != r["n_queries"]:
            raise WorkbenchError(f"lake {lake.uri}: score set {r['measure']} of run {run_hash[:12]} has "
                                 f"{have.get(key, 0)} per-query values; its entry says {r['n_queries']}")
    return values
