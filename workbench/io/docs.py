"""Read documents: BEIR corpus.jsonl(.gz) (`_id`, `title`, `text`), TSV (`docid<TAB>text`, no title), TREC SGML
(`<DOC><DOCNO>..</DOCNO> .. </DOC>`, the format of most TREC collections) and SMART (`.I` / `.T` / `.W`).

Documents may come as one file, several files or a folder (read recursively in name order, hidden files skipped),
each plain or gzip; a doc id must be unique across all of them. The format is detected per file from its first
non-blank character.

JSON lines are parsed by DuckDB's vectorised JSON functions, so a corpus of millions of documents needs no
Python loop; a bad record is still reported at its physical line.

TREC SGML: the DOCNO is the id; the text is that of the content tags Anserini's TrecCollection (and ir_datasets'
TrecDocs) index, TEXT HEADLINE TITLE HL HEAD TTL DD DATE LP LEADPARA: HEADLINE, TITLE, HL, HEAD and TTL make the
title, the others the text, in document order. Markup inside them is dropped and entities decoded (`&amp;` -> &).
A document with none of these tags (`<DOC><DOCNO>1</DOCNO> text </DOC>`) has all its text outside DOCNO as text;
a web page (a document with a DOCHDR, as in WT10g and GOV2) has its HTML <title> as title and the text of the page
after the header (scripts and styles left out) as text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import DocsFormatError
from workbench.io import _markup, _text
from workbench.io.topics import smart_records
from workbench.model import DOCS_SCHEMA

TITLE_TAGS = ("HEADLINE", "TITLE", "HL", "HEAD", "TTL")
TEXT_TAGS = ("TEXT", "DD", "DATE", "LP", "LEADPARA")
_NAMES = "|".join((*TITLE_TAGS, *TEXT_TAGS)).encode()
_DOC_OPEN = re.compile(rb"<DOC(?:\s[^<>]*)?>", re.I)
_DOC = re.compile(rb"<DOC(?:\s[^<>]*)?>(.*?)</DOC\s*>", re.S | re.I)
_DOCNO = re.compile(rb"<DOCNO(?:\s[^<>]*)?>(.*?)</DOCNO\s*>", re.S | re.I)
_CONTENT = re.compile(rb"<(" + _NAMES + rb")(?:\s[^<>]*)?>(.*?)</\1\s*>", re.S | re.I)
_CONTENT_OPEN = re.compile(rb"<(" + _NAMES + rb")(?:\s[^<>]*)?>", re.I)
_NOT_TEXT = re.compile(rb"<(DOCNO|DOCHDR|DOCOLDNO)(?:\s[^<>]*)?>.*?</\1\s*>", re.S | re.I)
_TITLE = {t.encode() for t in TITLE_TAGS}
_DOCHDR = re.compile(rb"<DOCHDR(?:\s[^<>]*)?>.*?</DOCHDR\s*>", re.S | re.I)
_HTML_TITLE = re.compile(rb"<title(?:\s[^<>]*)?>(.*?)</title\s*>", re.S | re.I)
_HTML_NOT_TEXT = re.compile(rb"<(script|style|title)(?:\s[^<>]*)?>.*?</\1\s*>", re.S | re.I)
_COMPRESS_MAGIC = b"\x1f\x9d"


def read_docs(paths: str | Path | Sequence[str | Path]) -> pa.Table:
    """Parse and validate documents from a file, several files or a folder (gzip ok); DocsFormatError names the
    first offending file and line."""
    files = doc_files(paths)
    tables, lines, owners = [], [], []
    for i, path in enumerate(files):
        table, line_no = _read_file(path)
        tables.append(table)
        lines.append(np.asarray(line_no, dtype=np.int64))
        owners.append(np.full(table.num_rows, i, dtype=np.int64))
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    line_no, owner = np.concatenate(lines), np.concatenate(owners)
    dup = _text.duplicate_first(table.column("doc_id"))
    if dup is not None:
        i, first_i = dup
        did = table.column("doc_id")[i].as_py()
        where = f"line {int(line_no[first_i])}" if owner[i] == owner[first_i] else \
            f"{files[owner[first_i]]}:{int(line_no[first_i])}"
        raise DocsFormatError(files[owner[i]], int(line_no[i]), f"doc id {did} appears twice (first at {where})")
    return table.cast(DOCS_SCHEMA)


def doc_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """The files `paths` name: each file itself, each folder's files (recursive, name order, no hidden ones)."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise DocsFormatError("<documents>", None, "no documents file given")
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():  # every entry but a folder is listed, so a FIFO or a device inside is named, not skipped
            found = sorted(p for p in item.rglob("*") if not p.is_dir()
                           and not any(part.startswith(".") for part in p.relative_to(item).parts))
            if not found:
                raise DocsFormatError(item, None, "folder holds no documents files")
            files.extend(found)
        else:
            _text.check_file(item, DocsFormatError)
            files.append(item)
    return files


def _read_file(path: Path) -> tuple[pa.Table, np.ndarray]:
    _text.check_file(path, DocsFormatError)  # a directory, a FIFO or /dev/zero is named as such, never opened
    if _text.first_bytes(path, 2) == _COMPRESS_MAGIC:
        raise DocsFormatError(path, 1, "file is compress(.Z)-compressed; decompress it first (gzip -d reads it)")
    src = _text.data_lines(path, DocsFormatError, comments=False)
    first = src.lines[0].as_py().lstrip() if len(src.lines) else ""
    if first.startswith("{"):
        table, line_no, problems = _jsonl(path, src)
    elif first.startswith("<"):
        table, line_no, problems = _sgml(src)
    elif first.startswith(".I") and re.match(r"\.I[ \t]", first):
        table, line_no, problems = _smart(src)
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
    return table, line_no


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


def _table(ids: list[str], titles: list, texts: list, lines: list[int]) -> tuple[pa.Table, np.ndarray]:
    """The documents; titles and texts given as markup (bytes) are cleaned here, all at once."""
    def column(values: list) -> pa.Array:
        cleaned = values and isinstance(values[0], bytes)
        return _markup.clean_column(values) if cleaned else pa.array(values, pa.string())

    return (pa.table({"doc_id": pa.array(ids, pa.string()), "title": column(titles), "text": column(texts)}),
            np.asarray(lines, dtype=np.int64))


def _sgml(src: _text.Lines):
    """TREC SGML documents (see the module docstring); one regex pass per document, none per line."""
    data = src.text.data
    line_of = _markup.LineIndex(data)
    problems = list(src.problems)
    ids: list[str] = []
    titles: list[bytes] = []  # markup, decoded below
    texts: list[bytes] = []
    lines: list[int] = []
    end = 0
    for m in _DOC.finditer(data):
        if not _gap_ok(data, end, m.start(), line_of, problems):
            break
        end = m.end()
        body, base, line = m.group(1), m.start(1), line_of(m.start())
        parsed = _document(body, base, line, line_of, problems)
        if parsed is None:
            break
        ids.append(parsed[0])
        titles.append(parsed[1])
        texts.append(parsed[2])
        lines.append(line)
    else:
        if src.text.bad_line is None:  # else the text stops before an unreadable line: that line is the error
            _gap_ok(data, end, len(data), line_of, problems)
    table, line_no = _table(ids, titles, texts, lines)
    return table, line_no, problems


def _gap_ok(data: bytes, start: int, stop: int, line_of, problems: list) -> bool:
    """Between documents only whitespace, comments and stray tags may stand; an unclosed <DOC> is an error."""
    unclosed = _DOC_OPEN.search(data, start, stop)
    if unclosed is not None:
        problems.append((line_of(unclosed.start()), "<DOC> without </DOC>"))
        return False
    if _markup.residue(data[start:stop]):
        problems.append((line_of(_markup.first_non_space(data, start, stop)), "text outside <DOC>...</DOC>"))
        return False
    return True


def _document(body: bytes, base: int, line: int, line_of, problems: list) -> tuple[str, bytes, bytes] | None:
    """(doc id, title markup, text markup) of one <DOC>'s body, or None with a problem recorded."""
    nested = _DOC_OPEN.search(body)
    if nested is not None:  # this <DOC>'s lazy match ran into the next document's </DOC>
        problems.append((line, "<DOC> without </DOC>"))
        return None
    docnos = list(_DOCNO.finditer(body))
    if len(docnos) != 1:
        problems.append((line, "document without <DOCNO>...</DOCNO>" if not docnos else
                         f"two <DOCNO> in one document (line {line_of(base + docnos[1].start())})"))
        return None
    doc_id = _markup.clean_text(docnos[0].group(1))
    if not doc_id or len(doc_id.split()) != 1:
        problems.append((line_of(base + docnos[0].start()), f"expected one doc id in <DOCNO>, got {doc_id!r}"))
        return None
    header = _DOCHDR.search(body)
    if header is not None:  # a web page (WT10g, GOV, GOV2): HTTP header, then HTML
        return (doc_id, *_web_page(_NOT_TEXT.sub(b" ", body[header.end():])))
    spans = list(_CONTENT.finditer(body))
    starts = [s.start() for s in spans]
    for opened in _CONTENT_OPEN.finditer(body):
        k = bisect.bisect_right(starts, opened.start()) - 1
        if k < 0 or opened.start() >= spans[k].end():
            name = opened.group(1).decode()
            problems.append((line_of(base + opened.start()), f"<{name}> without </{name}>"))
            return None
    if not spans:
        return doc_id, b"", _NOT_TEXT.sub(b" ", body)
    title = b" ".join(s.group(2) for s in spans if s.group(1).upper() in _TITLE)
    text = b" ".join(s.group(2) for s in spans if s.group(1).upper() not in _TITLE)
    return doc_id, title, text


def _web_page(page: bytes) -> tuple[bytes, bytes]:
    """(title, text) markup of an HTML page: its <title>, and the page without scripts, styles and the title."""
    title = _HTML_TITLE.search(page)
    return (title.group(1) if title else b""), _HTML_NOT_TEXT.sub(b" ", page)


def _smart(src: _text.Lines):
    """SMART documents: `.I` id, `.T` title, `.W` text (`.A`, `.B`, `.X` ... skipped)."""
    problems = list(src.problems)
    ids, titles, texts, lines = [], [], [], []
    for doc_id, fields, line in smart_records(src.text.data, problems):
        ids.append(doc_id)
        titles.append(fields.get("T", ""))
        texts.append(fields.get("W", ""))
        lines.append(line)
    table, line_no = _table(ids, titles, texts, lines)
    return table, line_no, problems
