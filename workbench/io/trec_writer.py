"""Write run tables as TREC files that read back exactly and score the same in trec_eval.

Rows are written in trec_eval's own order (score descending, doc_id descending within a query) with rank
= position, so the rank column never disagrees with the order trec_eval uses. Scores are printed as the
shortest string that parses back to the same float64 (Arrow's cast, like Python's repr).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from workbench.errors import WorkbenchError
from workbench.files import atomic_output
from workbench.io import _text
from workbench.io.runs import META_END, META_START


def metadata_block(metadata: dict | str) -> str:
    """The ir_metadata header: YAML lines (a mapping, or YAML text as it is) prefixed with '# ' between start/end
    markers."""
    body = metadata if isinstance(metadata, str) else yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True,
                                                                     default_flow_style=False)
    lines = [f"# {META_START}", *(f"# {line}".rstrip() for line in body.splitlines()), f"# {META_END}"]
    return "\n".join(lines) + "\n"


def _check_tokens(table: pa.Table, tag: str) -> None:
    if not tag or any(c.isspace() for c in tag):
        raise WorkbenchError(f"run tag must be a non-empty string without whitespace, got {tag!r}")
    for col in ("query_id", "doc_id"):
        values = table.column(col)
        bad = pc.or_(pc.match_substring_regex(values, r"\s"), pc.equal(pc.binary_length(values), 0))
        if values.null_count or pc.any(bad).as_py():
            raise WorkbenchError(f"cannot write a TREC run: some {col} values are empty or contain whitespace")
    qids = table.column("query_id")
    if pc.any(pc.starts_with(qids, "#")).as_py():
        raise WorkbenchError("cannot write a TREC run: a query_id starting with '#' would read back as a comment")
    score = table.column("score")
    if score.null_count or not pc.all(pc.is_finite(score)).as_py():
        raise WorkbenchError("cannot write a TREC run: scores must be finite numbers")


def write_run(path: str | Path, table: pa.Table, *, tag: str, metadata: dict | str | None = None) -> Path:
    """Write `table` (query_id, doc_id, score; rank ignored) as a TREC run, atomically (temp + replace)."""
    path = Path(path)
    table = table.select(["query_id", "doc_id", "score"]).cast(
        pa.schema([("query_id", pa.string()), ("doc_id", pa.string()), ("score", pa.float64())])
    )
    _check_tokens(table, tag)
    con = _text.connect()
    try:
        con.register("run", table)
        ordered = con.sql(
            "SELECT query_id, doc_id, score, row_number() OVER w AS rank FROM run "
            "WINDOW w AS (PARTITION BY query_id ORDER BY score DESC, doc_id DESC) "
            "ORDER BY query_id, score DESC, doc_id DESC"
        ).to_arrow_table()
    finally:
        con.close()
    score_text = pc.cast(ordered.column("score"), pa.string())
    lines = pc.binary_join_element_wise(
        ordered.column("query_id"),
        pa.scalar("Q0"),
        ordered.column("doc_id"),
        pc.cast(ordered.column("rank"), pa.string()),
        score_text,
        pa.scalar(tag + "\n"),
        " ",
    )
    with atomic_output(path, follow_symlinks=False) as tmp, open(tmp, "wb") as fh:  # the user's umask, not 0600
        if metadata:
            fh.write(metadata_block(metadata).encode("utf-8"))
        for chunk in lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]:
            _write_string_array(fh, chunk)
    return path


def _write_string_array(fh, arr: pa.Array) -> None:
    """Write the concatenated values of a string array straight from its data buffer (no per-row Python)."""
    if len(arr) == 0:
        return
    arr = arr.cast(pa.large_string()) if arr.type == pa.string() else arr
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=arr.offset + len(arr) + 1)
    start, stop = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    fh.write(memoryview(data_buf)[start:stop])


UNJUDGED_MARK = "?"
"""The grade column of a pooled document the qrels do not list yet: not a number, so a pool file fed back as qrels
before it is judged is refused at that line instead of read as a judgment."""


def qrels_text(table: pa.Table) -> str:
    """Rows (query_id, doc_id, relevance; null relevance: not judged) as TREC qrels lines, `qid 0 docid rel`, in
    the table's order; an unjudged row's grade is UNJUDGED_MARK."""
    if pc.any(pc.starts_with(table.column("query_id"), "#")).as_py():
        raise WorkbenchError("cannot write qrels: a query_id starting with '#' would read back as a comment")
    grade = pc.fill_null(pc.cast(table.column("relevance"), pa.string()), UNJUDGED_MARK)
    lines = pc.binary_join_element_wise(table.column("query_id"), pa.scalar("0"), table.column("doc_id"), grade,
                                        " ")
    return "".join(line + "\n" for line in lines.to_pylist())
