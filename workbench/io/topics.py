"""Read topics/queries: TSV (`qid<TAB>text`), BEIR queries.jsonl (`_id`, `text`), TREC topic files (SGML `<top>`
or XML `<topic number=...>`) and SMART query files (`.I 1` / `.W`, Cranfield, CISI, Medline).

The format is detected from the first non-blank character: '{' is JSON lines, '<' a TREC topic file, '.I' SMART,
anything else TSV. The shapes of TREC topic files that are read (tests/data/topics/ has one of each):

- Robust04 / TREC 1-8 ad hoc: `<top> <num> Number: 301 <title> ... <desc> Description: ... <narr> Narrative: ...
  </top>`, tags unclosed, each field running to the next tag, `Topic:` prefixes on early titles;
- the same with closing tags, on one line or several (`<num>1</num><title>...</title>`);
- XML (TREC-COVID, Web track, NTCIR-style): `<topic number="1"><query>...</query><question>...</question>
  <narrative>...</narrative></topic>` (`<subtopic>`s skipped), or a `<num>` child instead of the attribute.

The query text is one field (`--topic-field`): `title` (TREC's `<title>`, XML `<query>`; the default, what runs
are usually made from), `description` (`<desc>`, XML `<description>` or `<question>`) or `title+description`;
the title, description and narrative are kept beside it. A query id is the text of `<num>` (or the `number`
attribute) without its `Number:` label: one token, never markup.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import TopicsFormatError
from workbench.io import _markup, _text
from workbench.kinds import DEFAULT_TOPIC_FIELD, TOPIC_FIELDS  # defined without pyarrow, for the CLI's parser
from workbench.model import TOPIC_FIELDS_SCHEMA

_TSV_HEADERS = {("query_id", "text"), ("qid", "text"), ("qid", "query"), ("id", "text"), ("query-id", "text")}
_SGML_OPEN = re.compile(rb"<top\s*>", re.I)
_SGML_BLOCK = re.compile(rb"<top\s*>(.*?)</top\s*>", re.S | re.I)
_XML_OPEN = re.compile(rb"<topic(?:\s[^<>]*)?>", re.I)
_XML_BLOCK = re.compile(rb"<topic((?:\s[^<>]*)?)>(.*?)</topic\s*>", re.S | re.I)
_SUBTOPIC = re.compile(rb"<subtopic\b.*?</subtopic\s*>", re.S | re.I)
_NUMBER_ATTR = re.compile(rb"""\bnumber\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_ROLES = {b"num": "id", b"number": "id", b"title": "title", b"query": "title", b"desc": "description",
          b"description": "description", b"question": "description", b"narr": "narrative",
          b"narrative": "narrative"}
_LABELS = {"id": rb"Number", "title": rb"Topic", "description": rb"Description", "narrative": rb"Narrative"}
_LABEL = {role: re.compile(rb"^\s*" + label + rb"\s*:", re.I) for role, label in _LABELS.items()}
_TAG_NAME = {"id": "<num>", "title": "<title>", "description": "<desc>", "narrative": "<narr>"}
_MISSING_XML = {"title": "<query> or <title>", "description": "<question> or <description>"}
_SMART_START = re.compile(rb"^\.I[ \t]", re.M)
_SMART_FIELD = re.compile(rb"^\.([A-Z])(?=[ \t\r]|$)[ \t]*([^\n]*)$", re.M)


def read_topics(path: str | Path, *, field: str = DEFAULT_TOPIC_FIELD) -> pa.Table:
    """Parse and validate a topics file (gzip ok) into TOPIC_FIELDS_SCHEMA; `text` is the query text made of
    `field`. TopicsFormatError names the first offending line."""
    path = Path(path)
    if field not in TOPIC_FIELDS:
        raise TopicsFormatError(path, None, f"unknown topic field {field!r}; expected one of {', '.join(TOPIC_FIELDS)}")
    _text.check_file(path, TopicsFormatError)
    src = _text.data_lines(path, TopicsFormatError, comments=False)
    first = src.lines[0].as_py().lstrip() if len(src.lines) else ""
    if first.startswith("<"):
        table, problems = _trec(src, field)
    elif first.startswith(".I") and _SMART_START.match(first.encode()):
        table, problems = _smart(src, field)
    else:
        if field != DEFAULT_TOPIC_FIELD:
            raise TopicsFormatError(path, None, f"topic field {field!r} needs a file whose topics have fields (TREC "
                                    "<top>/<topic> or SMART); this one has one text per query")
        table, problems = _jsonl(path, src) if first.startswith("{") else _tsv(src)
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
    return _with_fields(table).cast(TOPIC_FIELDS_SCHEMA)


def _with_fields(table: pa.Table) -> pa.Table:
    """The table without its line column, with the field columns (null where the format has none)."""
    out = table.drop_columns(["line"])
    for name in ("title", "description", "narrative"):
        if name not in out.column_names:
            out = out.append_column(name, pa.nulls(out.num_rows, pa.string()))
    return out.select(TOPIC_FIELDS_SCHEMA.names)


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


class _Topics:
    """Topics as they are found: columns, and the problems met on the way (line, message)."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.rows: dict[str, list] = {k: [] for k in ("query_id", "title", "description", "narrative", "line")}
        self.problems: list[tuple[int, str]] = []

    def add(self, qid: str, fields: dict[str, str], line: int, tag_of: dict[str, str],
            field_lines: dict[str, int] | None = None) -> None:
        """One topic; its query text is checked here (a missing or empty chosen field is a problem, at the
        topic's line or the field's)."""
        for part in self.field.split("+"):
            if part not in fields:
                self.problems.append((line, f"topic {qid} has no {tag_of[part]} (topic field {self.field!r})"))
                return
            if not fields[part]:
                self.problems.append(((field_lines or {}).get(part, line),
                                      f"topic {qid} has an empty {tag_of[part]} (topic field {self.field!r})"))
                return
        self.rows["query_id"].append(qid)
        self.rows["line"].append(line)
        for key in ("title", "description", "narrative"):
            self.rows[key].append(fields.get(key))

    def table(self) -> tuple[pa.Table, list[tuple[int, str]]]:
        cols = {k: pa.array(v, pa.int64() if k == "line" else pa.string()) for k, v in self.rows.items()}
        parts = [cols[p] for p in self.field.split("+")]
        text = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, " ")
        return pa.table({"query_id": cols["query_id"], "text": text, "title": cols["title"],
                         "description": cols["description"], "narrative": cols["narrative"],
                         "line": cols["line"]}), self.problems


def _trec(src: _text.Lines, field: str) -> tuple[pa.Table, list[tuple[int, str]]]:
    """TREC topics: SGML `<top>` blocks, else XML `<topic>` elements (see the module docstring)."""
    data = src.text.data
    line_of = _markup.LineIndex(data)
    out = _Topics(field)
    out.problems.extend(src.problems)
    xml = _SGML_OPEN.search(data) is None
    if xml and _XML_OPEN.search(data) is None:
        out.problems.append((1, "expected TREC topics: <top> <num> ... </top> blocks or <topic number=...> elements"))
        return out.table()
    block, opener, what = (_XML_BLOCK, _XML_OPEN, "<topic>") if xml else (_SGML_BLOCK, _SGML_OPEN, "<top>")
    end = 0
    for m in block.finditer(data):  # one iteration per topic (hundreds), not per line
        _check_gap(data, end, m.start(), opener, what, line_of, out.problems)
        end = m.end()
        body_group = 2 if xml else 1
        body, base = m.group(body_group), m.start(body_group)
        if xml:  # a Web track topic's subtopics have descriptions of their own; blanked, offsets kept
            body = _SUBTOPIC.sub(lambda s: b" " * len(s.group(0)), body)
        _topic(body, base, m.group(1) if xml else b"", xml, line_of(m.start()), line_of, out)
    if src.text.bad_line is None:  # else the text stops before an unreadable line: that line is the error
        _check_gap(data, end, len(data), opener, what, line_of, out.problems)
    return out.table()


def _check_gap(data: bytes, start: int, stop: int, opener: re.Pattern, what: str, line_of, problems: list) -> None:
    """Between topics only markup and whitespace may stand (the XML prolog, `<topics>`, comments)."""
    unclosed = opener.search(data, start, stop)
    if unclosed is not None:
        problems.append((line_of(unclosed.start()), f"{what} without </{what[1:]}"))
    elif _markup.residue(data[start:stop]):
        problems.append((line_of(_markup.first_non_space(data, start, stop)), f"text outside {what}...</{what[1:]}"))


def _topic(body: bytes, base: int, attrs: bytes, xml: bool, line: int, line_of, out: _Topics) -> None:
    """One topic's fields: each recognised tag's text runs to the next tag of any kind."""
    tags = list(_markup.TAG.finditer(body))
    fields: dict[str, str] = {}
    field_lines: dict[str, int] = {}
    for k, t in enumerate(tags):
        role = _ROLES.get(t.group(2).lower())
        if t.group(1) or role is None:
            continue
        if role in fields:
            out.problems.append((line_of(base + t.start()), f"two {_TAG_NAME[role]} fields in one topic"))
            return
        stop = tags[k + 1].start() if k + 1 < len(tags) else len(body)
        fields[role] = _markup.clean_text(_LABEL[role].sub(b"", body[t.end():stop], count=1))
        field_lines[role] = line_of(base + t.start())
    number = _NUMBER_ATTR.search(attrs)
    if number is not None:
        qid = _markup.clean_text(next(g for g in number.groups() if g is not None))
    elif "id" in fields:
        qid = fields["id"]
    else:
        out.problems.append((line, "topic without <num>"))
        return
    if not qid:
        out.problems.append((line, "empty <num>"))
        return
    if len(qid.split()) != 1 or "<" in qid or ">" in qid:
        out.problems.append((line, f"expected one query id in <num>, got {_text.clip(qid)!r}"))
        return
    out.add(qid, fields, line, _MISSING_XML if xml else _TAG_NAME, field_lines)


def _smart(src: _text.Lines, field: str) -> tuple[pa.Table, list[tuple[int, str]]]:
    """SMART queries: `.I <id>` starts a query, `.W` its text, `.T` a title where there is one; other fields
    (`.A`, `.B`, `.N`, ...) are skipped. A file without any `.T` (Cranfield, CISI) has one text per query, the
    `.W`, which is the query whatever the topic field."""
    problems = list(src.problems)
    records = list(smart_records(src.text.data, problems))
    out = _Topics(field if any("T" in f for _, f, _ in records) else "description")
    out.problems.extend(problems)
    for qid, fields, line in records:
        named = {"description": fields.get("W", "")} | ({"title": fields["T"]} if "T" in fields else {})
        out.add(qid, named, line, {"title": ".T", "description": ".W"})
    return out.table()


def smart_records(data: bytes, problems: list[tuple[int, str]]):
    """(id, {field letter: cleaned text}, line) of each `.I` record of a SMART file; problems appended."""
    line_of = _markup.LineIndex(data)
    starts = [m.start() for m in _SMART_START.finditer(data)]
    if not starts or data[: starts[0]].strip():
        problems.append((line_of(_markup.first_non_space(data, 0, len(data))), "text before the first .I record"))
        return
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(data)
        marks = list(_SMART_FIELD.finditer(data, start, stop))
        rid = marks[0].group(2).strip().decode()
        if len(rid.split()) != 1:
            problems.append((line_of(start), f"expected one id after .I, got {_text.clip(rid)!r}"))
            return
        fields: dict[str, str] = {}
        for j, mark in enumerate(marks[1:], start=1):
            end = marks[j + 1].start() if j + 1 < len(marks) else stop
            letter = mark.group(1).decode()
            if letter in fields:
                problems.append((line_of(mark.start()), f"record {rid} has two .{letter} fields"))
                return
            fields[letter] = _markup.clean_text(data[mark.start(2):end])
        yield rid, fields, line_of(start)
