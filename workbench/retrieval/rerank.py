"""Second-stage reranking of a first-stage run's top `depth` documents per query.

Offline, the reranker available is the all-MiniLM-L6-v2 bi-encoder (cosine of query and document embeddings); a
local CrossEncoder directory is used when given (no registry package ships cross-encoder weights). Which one a
directory holds is read from its config, never guessed from its name, and nothing is ever downloaded.

The output keeps every parent document: the top `depth` in the reranker's order, then the rest in the parent's
order with the parent's scores. Where needed the reranked scores are shifted up by one constant per query (to one
above the tail's best score), so sorting by score descending, ties by doc_id descending (trec_eval) gives exactly
that order.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import ProviderUnavailableError, WorkbenchError
from workbench.model import RunKind
from workbench.retrieval.base import RetrievalResult, check_columns, doc_texts, order_run, versions
from workbench.retrieval.cache import hash_dir, hash_table
from workbench.retrieval.dense import (
    Progress,
    corpus_embeddings,
    encode_texts,
    load_bi_encoder,
    offline,
    progress_reporter,
    quiet_transformers,
    resolve_model,
    torch_threads,
)

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

ModelKind = Literal["bi-encoder", "cross-encoder"]


def detect_model_kind(path: Path) -> ModelKind:
    """Whether a model directory holds a bi-encoder or a cross-encoder, from its config files.

    sentence-transformers >= 4 writes `model_type` into config_sentence_transformers.json; older cross-encoders
    are plain transformers directories whose architecture ends in ForSequenceClassification.
    """
    st_config = path / "config_sentence_transformers.json"
    if st_config.exists():
        model_type = json.loads(st_config.read_text()).get("model_type", "SentenceTransformer")
        if model_type == "CrossEncoder":
            return "cross-encoder"
        if model_type != "SentenceTransformer":
            raise ProviderUnavailableError(f"{path} holds a {model_type}; rerank needs a bi-encoder or a CrossEncoder")
        return "bi-encoder"
    if (path / "modules.json").exists():
        return "bi-encoder"
    config = path / "config.json"
    if not config.exists():
        raise ProviderUnavailableError(f"{path} is not a model directory (no config.json)")
    architectures = json.loads(config.read_text()).get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "cross-encoder"
    return "bi-encoder"


@functools.lru_cache(maxsize=2)
def _load_cross_encoder(path: str, model_hash: str) -> CrossEncoder:
    offline()
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as e:
        raise ProviderUnavailableError("sentence-transformers is not installed") from e
    try:
        with quiet_transformers():
            return CrossEncoder(path, device="cpu", local_files_only=True)
    except (OSError, ValueError) as e:
        raise ProviderUnavailableError(f"cannot load the CrossEncoder in {path}: {e}") from e


def _lookup(keys: pa.Array, values: pa.Array, what: str) -> np.ndarray:
    """Row index in `values` of each key; WorkbenchError naming a few keys that are missing."""
    idx = pc.index_in(keys, value_set=values)
    if idx.null_count:
        missing = pc.unique(pc.filter(keys, pc.is_null(idx))).to_pylist()
        raise WorkbenchError(
            f"the parent run has {len(missing)} {what} id(s) not in the {what}s table, e.g. {', '.join(missing[:5])}"
        )
    return idx.to_numpy(zero_copy_only=False).astype(np.int64)


def _bi_encoder_scores(
    model: str | Path | None, q_texts: list[str], q_idx: np.ndarray, docs: pa.Table, d_idx: np.ndarray, *,
    batch_size: int, threads: int, cache_dir: Path | None, progress: bool | Progress | None,
) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """Cosine of query and doc embeddings; doc embeddings come from the dense cache when it holds the corpus."""
    encoder, ident = load_bi_encoder(model)
    info: dict[str, Any] = {"doc_embeddings": "encoded for this call"}
    doc_emb, cached = corpus_embeddings(docs, model, cache_dir=cache_dir, encode_if_missing=False)
    if doc_emb is not None:
        info["doc_embeddings"] = cached["embeddings"]
    with torch_threads(threads):
        if doc_emb is None:
            needed = np.unique(d_idx)
            texts = doc_texts(docs.take(pa.array(needed))).to_pylist()
            part = encode_texts(encoder, texts, batch_size=batch_size, progress=progress, label="encoding docs")
            doc_emb = np.zeros((len(docs), part.shape[1]), dtype=np.float32)
            doc_emb[needed] = part
        q_emb = encode_texts(encoder, q_texts, batch_size=batch_size)
    scores = np.einsum("ij,ij->i", q_emb[q_idx].astype(np.float64), np.asarray(doc_emb)[d_idx].astype(np.float64))
    return scores, {**ident, **info}


def _cross_encoder_scores(
    path: Path, q_texts: list[str], q_idx: np.ndarray, docs: pa.Table, d_idx: np.ndarray, *,
    batch_size: int, threads: int, progress: bool | Progress | None,
) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """CrossEncoder.predict on (query, title + " " + text) pairs, in chunks so progress can be reported."""

    ident = {"model": path.name, "model_path": str(path), "model_hash": hash_dir(path)}
    encoder = _load_cross_encoder(str(path), ident["model_hash"])
    texts = doc_texts(docs).to_pylist()
    pairs = [(q_texts[q], texts[d]) for q, d in zip(q_idx.tolist(), d_idx.tolist(), strict=True)]
    out = np.zeros(len(pairs), dtype=np.float64)
    chunk = batch_size * 8
    with torch_threads(threads), progress_reporter(progress, len(pairs), "reranking") as report:
        for start in range(0, len(pairs), chunk):
            part = encoder.predict(pairs[start : start + chunk], batch_size=batch_size, show_progress_bar=False)
            out[start : start + chunk] = np.asarray(part, dtype=np.float64).reshape(-1)
            if report is not None:
                report(min(start + chunk, len(pairs)), len(pairs))
    return out, ident


def rerank(
    parent: pa.Table,
    docs: pa.Table,
    topics: pa.Table,
    *,
    depth: int = 100,
    model: str | Path | None = "minilm",
    batch_size: int = 64,
    threads: int = 1,
    cache_dir: Path | None = None,
    parent_id: str | None = None,
    progress: bool | Progress | None = None,
) -> RetrievalResult:
    """Re-score the parent's top `depth` per query (parent order = score desc, doc_id desc) with a local model.

    Args:
        parent: the first-stage run (query_id, doc_id, score; its rank column is ignored).
        docs: `doc_id, title, text` for every parent document within the depth.
        topics: `query_id, text` for every parent query.
        depth: documents per query to re-score; the rest keep the parent's order below them.
        model: "minilm" (the bundled bi-encoder), or a local sentence-transformers bi-encoder or CrossEncoder
            directory (which one is read from its config).
        cache_dir: cache root (default `cache.cache_dir()`); dense embeddings of `docs` for this bi-encoder found
            there are reused (never written: a rerank needs only the parent's documents).
        parent_id: how `params` names the parent (default: the content hash of its rows).

    Raises:
        ProviderUnavailableError: the model directory is missing or is not a usable model.
        WorkbenchError: parent documents or queries missing from `docs` / `topics`, bad depth.
    """
    check_columns(parent, ("query_id", "doc_id", "score"), "parent run")
    check_columns(docs, ("doc_id", "title", "text"), "docs")
    check_columns(topics, ("query_id", "text"), "topics")
    if depth < 1 or batch_size < 1 or threads < 1:
        raise WorkbenchError(f"depth, batch_size and threads must be positive (got depth={depth})")
    path, _ = resolve_model(model)
    kind = detect_model_kind(path)
    ordered = order_run(parent)
    in_head = pc.less_equal(ordered.column("rank"), depth)
    head, tail = ordered.filter(in_head), ordered.filter(pc.invert(in_head))
    d_idx = _lookup(head.column("doc_id").combine_chunks(), docs.column("doc_id").combine_chunks(), "doc")
    topic_ids = topics.column("query_id").combine_chunks()
    q_rows = _lookup(head.column("query_id").combine_chunks(), topic_ids, "query")
    q_needed, q_idx = np.unique(q_rows, return_inverse=True)
    q_texts = [t or "" for t in topics.column("text").combine_chunks().take(pa.array(q_needed)).to_pylist()]
    start = time.perf_counter()
    if kind == "bi-encoder":
        scores, ident = _bi_encoder_scores(
            model, q_texts, q_idx, docs, d_idx,
            batch_size=batch_size, threads=threads, cache_dir=cache_dir, progress=progress,
        )  # fmt: skip
    else:
        scores, ident = _cross_encoder_scores(
            path, q_texts, q_idx, docs, d_idx, batch_size=batch_size, threads=threads, progress=progress
        )
    seconds = time.perf_counter() - start
    shifted = _shift_above_tail(head.column("query_id").combine_chunks(), scores, tail)
    new_head = pa.table({"query_id": head.column("query_id"), "doc_id": head.column("doc_id"), "score": shifted})
    run = order_run(pa.concat_tables([new_head, tail.select(["query_id", "doc_id", "score"])]))
    parent_ref = parent_id or hash_table(parent, ["query_id", "doc_id", "score"])
    params: dict[str, Any] = {
        "method": "rerank",
        "reranker": kind,
        "model": ident["model"],
        "model_hash": ident["model_hash"],
        "text": "title + ' ' + text",
        "parent": parent_ref,
        "depth": depth,
        "parent_order": "score desc, doc_id desc (rank column ignored)",
        "score_shift": "per query, reranked scores + max(0, max(tail) - min(reranked) + 1); tail keeps parent scores",
        "batch_size": batch_size,
        "threads": threads,
    }
    if kind == "bi-encoder":
        params["doc_embeddings"] = ident["doc_embeddings"]
    software = versions("sentence-transformers", "transformers", "torch", "numpy", "pyarrow")
    return RetrievalResult(
        run=run, kind=RunKind.RERANK, params=params, software=software, timings={"rerank": round(seconds, 3)},
        parent=parent_ref, depth=depth,
    )  # fmt: skip


def _shift_above_tail(head_qid: pa.Array, scores: np.ndarray, tail: pa.Table) -> np.ndarray:
    """Add one constant per query so every reranked score exceeds the best tail score of that query."""
    if len(tail) == 0 or len(scores) == 0:
        return scores
    head = pa.table({"query_id": head_qid, "s": pa.array(scores, pa.float64())})
    head_min = head.group_by("query_id").aggregate([("s", "min")])
    tail_max = tail.group_by("query_id").aggregate([("score", "max")])
    pos = pc.index_in(head_min.column("query_id"), value_set=tail_max.column("query_id"))
    gap = pc.subtract(pc.take(tail_max.column("score_max"), pos), head_min.column("s_min"))
    shift_per_query = pc.fill_null(pc.max_element_wise(pc.add(gap, 1.0), 0.0), 0.0)
    per_row = pc.take(shift_per_query, pc.index_in(head_qid, value_set=head_min.column("query_id")))
    return scores + per_row.to_numpy(zero_copy_only=False)
