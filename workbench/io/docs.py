"""Read documents: BEIR corpus.jsonl(.gz) (`_id`, `title`, `text`) or TSV (`docid<TAB>text`, no title).

JSON lines are parsed by DuckDB's vectorised JSON functions, so a corpus of millions of documents needs no
Python loop; a bad record is still reported at its physical line.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import DocsFormatError
from workbench.io import _text
from workbench.model import DOCS_SCHEMA


def read_docs(path: str | Path) -> pa.Table:
    """Parse and validate a documents file (gzip ok); DocsFormatError names the first offending line."""
    path = Path(path)
    _text.check_file(path, DocsFormatError)
    src = _text.data_lines(path, DocsFormatError, comments=False)
    first = src.lines[0].as_py().lstrip() if len(src.lines) else ""
    if first.startswith("{"):
        table, line_no, problems = _jsonl(path, src)
    else:
        table, line_no, problems = _tsv(src)
    dup = _text.duplicate_first(table.column("doc_id"))
    if dup is not None:
        i, first_i = dup
        did = table.column("doc_id")[i].as_py()
        problems.append((int(line_no[i]), f"doc id {did} appears twice (first at line {int(line_no[first_i])})"))
    _text.raise_first(DocsFormatError, path, problems)
    if table.num_rows == 0:
        raise DocsFormatError(path, 1, "no documents (the file is empty)")
    return table.cast(DOCS_SCHEMA)


def _jsonl(path: Path, src: _text.Lines):
    table, problems = _text.jsonl_fields(path, DocsFormatError, src, ("_id", "title", "text"))
    doc_id = table.column("_id")
    missing = _text.first_true(doc_id.is_null().to_numpy(zero_copy_only=False))
    if missing is not None:
        problems.append((int(src.line_no[missing]), 'missing "_id"'))
    problems += _text.jsonl_id_problems(table, src.line_no)
    out = pa.table(
        {
            "doc_id": doc_id,
            "title": pc.fill_null(table.column("title"), ""),
            "text": pc.fill_null(table.column("text"), ""),
        }
    )
    return out, src.line_no, problems


def _tsv(src: _text.Lines):
    problems = list(src.problems)
    parts = pc.split_pattern(src.lines, "\t", max_splits=1)
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    bad = _text.first_true(counts != 2)
    if bad is not None:
        problems.append((int(src.line_no[bad]), "expected 2 tab-separated fields (docid<TAB>text), got 1"))
    ok = counts == 2
    parts, line_no = parts.filter(pa.array(ok)), src.line_no[ok]
    doc_id = pc.ascii_trim_whitespace(_text.field(parts, 0))
    empty = _text.first_true(pc.equal(pc.binary_length(doc_id), 0).to_numpy(zero_copy_only=False))
    if empty is not None:
        problems.append((int(line_no[empty]), "empty doc id"))
    text = _text.field(parts, 1)
    out = pa.table({"doc_id": doc_id, "title": pa.nulls(len(doc_id), pa.string()).fill_null(""), "text": text})
    return out, line_no, problems
