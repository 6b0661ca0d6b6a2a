"""Read topics/queries: TSV (`qid<TAB>text`), BEIR queries.jsonl (`_id`, `text`) or TREC topic files.

The format is detected from the first non-blank character: '{' is JSON lines, '<' a TREC topic file,
anything else TSV. For TREC topics the query text is the <title> field (what runs are usually made from).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import TopicsFormatError
from workbench.io import _text
from workbench.model import TOPICS_SCHEMA

_TSV_HEADERS = {("query_id", "text"), ("qid", "text"), ("qid", "query"), ("id", "text"), ("query-id", "text")}
_TOP = re.compile(rb"<top>(.*?)</top>", re.S | re.I)
_FIELD = re.compile(rb"<(num|title|desc|narr)>", re.I)
_NUM = re.compile(rb"^\s*(?:Number:)?\s*(\S+)", re.I)


def read_topics(path: str | Path) -> pa.Table:
    """Parse and validate a topics file (gzip ok); TopicsFormatError names the first offending line."""
    path = Path(path)
    _text.check_file(path, TopicsFormatError)
    src = _text.data_lines(path, TopicsFormatError, comments=False)
    first = src.lines[0].as_py().lstrip() if len(src.lines) else ""
    if first.startswith("<"):
        table, problems = _trec(path, src)
    elif first.startswith("{"):
        table, problems = _jsonl(path, src)
    else:
        table, problems = _tsv(src)
    line_no = table.column("line").to_numpy(zero_copy_only=False) if table.num_rows else np.zeros(0, np.int64)
    reserved = _text.first_true(pc.equal(table.column("query_id"), "all").to_numpy(zero_copy_only=False))
    if reserved is not None:
        problems.append((int(line_no[reserved]), _text.ALL_QUERY_ID))
    dup = _text.duplicate_first(table.column("query_id"))
    if dup is not None:
        i, first_i = dup
        qid = table.column("query_id")[i].as_py()
        problems.append((int(line_no[i]), f"query id {qid} appears twice (first at line {int(line_no[first_i])})"))
    _text.raise_first(TopicsFormatError, path, problems)
    if table.num_rows == 0:
        raise TopicsFormatError(path, 1, "no topics (the file is empty)")
    return table.drop_columns(["line"]).cast(TOPICS_SCHEMA)


def _tsv(src: _text.Lines) -> tuple[pa.Table, list[tuple[int, str]]]:
    problems = list(src.problems)
    lines, line_no = src.lines, src.line_no
    if len(lines) and tuple(lines[0].as_py().strip().lower().split("\t")) in _TSV_HEADERS:
        lines, line_no = lines.slice(1), line_no[1:]
    parts = pc.split_pattern(lines, "\t", max_splits=1)
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    bad = _text.first_true(counts != 2)
    if bad is not None:
        problems.append((int(line_no[bad]), "expected 2 tab-separated fields (qid<TAB>text), got 1"))
    ok = counts == 2
    parts, line_no = parts.filter(pa.array(ok)), line_no[ok]
    qid = pc.ascii_trim_whitespace(_text.field(parts, 0))
    text = pc.ascii_trim_whitespace(_text.field(parts, 1))
    empty = _text.first_true(pc.equal(pc.binary_length(qid), 0).to_numpy(zero_copy_only=False))
    if empty is not None:
        problems.append((int(line_no[empty]), "empty query id"))
    return pa.table({"query_id": qid, "text": text, "line": pa.array(line_no, pa.int64())}), problems


def _jsonl(path: Path, src: _text.Lines) -> tuple[pa.Table, list[tuple[int, str]]]:
    table, problems = _text.jsonl_fields(path, TopicsFormatError, src, ("_id", "text"), typed=("_id", "text"))
    for key in ("_id", "text"):
        missing = _text.first_true(table.column(key).is_null().to_numpy(zero_copy_only=False))
        if missing is not None:
            problems.append((int(src.line_no[missing]), f'missing "{key}"'))
    problems += _text.jsonl_id_problems(table, src.line_no)
    problems += _text.jsonl_type_problems(table, src.line_no, "text", ("VARCHAR",), "a string")
    out = pa.table(
        {"query_id": table.column("_id"), "text": table.column("text"), "line": pa.array(src.line_no, pa.int64())}
    )
    return out, problems


def _trec(path: Path, src: _text.Lines) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Classic TREC topics: <top> <num> Number: 301 <title> ... </top> (tags may be unclosed)."""
    data = src.text.data
    problems = list(src.problems)
    ids, texts, lines = [], [], []
    end = 0
    for m in _TOP.finditer(data):  # one iteration per topic (hundreds), not per line
        gap = data[end : m.start()].strip()
        if gap:
            problems.append((_text.line_of(data, end + data[end:].index(gap[:1])), "text outside <top>...</top>"))
        end = m.end()
        body, base = m.group(1), m.start(1)
        line = _text.line_of(data, m.start())
        tags = list(_FIELD.finditer(body))
        parts = {}
        for k, t in enumerate(tags):
            stop = tags[k + 1].start() if k + 1 < len(tags) else len(body)
            parts.setdefault(t.group(1).lower(), (body[t.end() : stop], base + t.start()))
        if b"num" not in parts:
            problems.append((line, "topic without <num>"))
            continue
        num = _NUM.match(parts[b"num"][0])
        if num is None:
            problems.append((_text.line_of(data, parts[b"num"][1]), "empty <num>"))
            continue
        title = parts.get(b"title", (b"", 0))[0]
        title = re.sub(rb"^\s*Topic:", b"", title)
        text = re.sub(rb"</\w+>", b"", title)
        ids.append(num.group(1).decode())
        texts.append(" ".join(text.decode().split()))
        lines.append(line)
    tail = data[end:].strip()
    if tail:
        off = end + data[end:].index(tail[:1])
        what = "<top> without </top>" if tail.lower().startswith(b"<top>") else "text outside <top>...</top>"
        problems.append((_text.line_of(data, off), what))
    return pa.table(
        {
            "query_id": pa.array(ids, pa.string()),
            "text": pa.array(texts, pa.string()),
            "line": pa.array(lines, pa.int64()),
        }
    ), problems
