"""Read TREC run files (`qid Q0 docid rank score tag`) into a checked Arrow table.

Two paths give the same result. The fast path hands a plain, single-space-separated file to DuckDB's
parallel CSV reader and runs a few vectorised checks on the typed columns; it cannot say *where* a problem
is, only that there is one. Anything unusual (tabs, padding, comments after the header, a failed check)
falls through to the careful path, which splits every line with Arrow kernels, so it accepts every
whitespace layout trec_eval accepts and reports the first offending physical line.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RunFormatError
from workbench.io import _numbers, _text
from workbench.io._memory import no_huge_pages
from workbench.model import RUN_SCHEMA

if TYPE_CHECKING:
    import duckdb

RUN_FIELDS = "qid Q0 docid rank score tag"
_HEAD_BYTES = 64 << 10
_MAX_EXACT_RANK = 2**53
SMALL_RUN_BYTES = 8 << 20
"""`read_run` parses files below this size on the careful path: DuckDB's import and start-up (about 0.1 s of CPU)
cost more than its parallel reader saves on them (a 43 x 1,000-line TREC DL run is 1.6 MB)."""
META_START = "ir_metadata.start"
META_END = "ir_metadata.end"


@dataclass(frozen=True)
class ParsedRun:
    """A validated run file: rows, identity (hash of the raw bytes) and what the file says about itself."""

    table: pa.Table
    sha256: str
    run_tags: tuple[str, ...]
    metadata_header: str | None
    n_lines: int
    warnings: tuple[str, ...] = ()


def read_run(path: str | Path, *, encoding: str = "utf-8", allow_trailing_fields: bool = False) -> ParsedRun:
    """Parse and validate a TREC run; raises RunFormatError naming the first offending line.

    trec_eval ignores text after the 6th field (its results.trunc fixture has some); we refuse it by
    default because a space inside a docid shifts the fields and still parses. `allow_trailing_fields`
    accepts such lines (first 6 fields kept) with a warning.
    """
    path = Path(path)
    _text.check_file(path, RunFormatError)
    big = _text_bytes(path) >= SMALL_RUN_BYTES
    if big:
        no_huge_pages()
    if _text.is_utf8(encoding) and big:
        parsed = _fast(path)
        if parsed is not None:
            return parsed
    return _careful(path, encoding, allow_trailing_fields)


def _text_bytes(path: Path) -> int:
    """The file's size, or a guess at its text's size when it is gzip (run text compresses about 4-8x)."""
    size = path.stat().st_size
    return size * 8 if _text.first_bytes(path).startswith(_text.GZIP_MAGIC) else size


# ---------------------------------------------------------------------------------------------- header


def _header(path: Path, lines: list[str]) -> tuple[str | None, list[str]]:
    """The ir_metadata block among the leading comment lines, as YAML text (without the '# ' prefixes)."""
    lines = [line.rstrip("\r") for line in lines]
    stripped = [line.strip() for line in lines]
    markers = [s.lstrip("#").strip() for s in stripped]
    if META_START not in markers:
        return None, []
    # PyYAML loads for the runs that carry a header: 0.02 s of `workbench eval`'s start-up otherwise
    import yaml

    from workbench.io import _yaml


    start = markers.index(META_START)
    try:
        end = markers.index(META_END, start + 1)
    except ValueError:
        raise RunFormatError(path, start + 1, f"'# {META_START}' without a matching '# {META_END}'") from None
    body = []
    for line in lines[start + 1 : end]:
        text = line.lstrip()
        text = text[1:] if text.startswith("#") else text
        body.append(text[1:] if text.startswith(" ") else text)
    header = "\n".join(body).rstrip("\r\n ") + "\n" if any(b.strip() for b in body) else ""
    warnings = []
    try:
        _yaml.safe_load(header)
    except _yaml.YamlLimitError as exc:  # refused: whatever later reads the header would blow up
        raise RunFormatError(path, start + 2 + exc.problem_mark.line, f"ir_metadata header: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {start + 2 + mark.line})" if mark is not None else ""
        warnings.append(f"ir_metadata header is not valid YAML{where}: {getattr(exc, 'problem', exc)}")
    return header, warnings


def _leading(lines: list[str]) -> int:
    """Number of leading blank/comment lines."""
    for i, line in enumerate(lines):
        s = line.strip()
        if s and not s.startswith("#"):
            return i
    return len(lines)


def _tag_warnings(tags: tuple[str, ...]) -> list[str]:
    if len(tags) > 1:
        shown = ", ".join(tags[:5]) + (", ..." if len(tags) > 5 else "")
        return [f"run has {len(tags)} distinct run tags ({shown}); trec_eval reports only the first"]
    return []


# -------------------------------------------------------------------------------------------- fast path


class _RawScan(threading.Thread):
    """Hash the raw bytes, count newlines and look for NUL bytes while DuckDB parses.

    hashlib, zlib and numpy release the GIL; the NUL search is a memchr. (Searching for empty lines
    instead of counting newlines costs more than the count.)
    """

    def __init__(self, path: Path, gz: bool, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(daemon=True)
        self.path, self.gz, self.con = path, gz, con
        self.limits = _text.decompression_limits() if gz else None  # raised here, in the caller's thread
        self.sha256 = ""
        self.nul = False
        self.other_space = False  # \t, \v or \f: separators for trec_eval and the careful path, not DuckDB
        self.n_lines = 0
        self.ok = True
        self.error: RunFormatError | None = None  # a decompression limit was passed
        self.parsed = threading.Event()  # set by the reader when DuckDB is done with the file

    def _decompressed(self, digest):
        if self.gz:  # bounded: a gzip bomb stops here (and stops DuckDB, which reads the same stream)
            yield from _text.gunzip(self.path, RunFormatError, digest, self.limits)
            return
        for chunk in _text.iter_raw_chunks(self.path):
            digest.update(chunk)
            yield chunk

    def run(self) -> None:
        digest = hashlib.sha256()
        newlines, last = 0, b""
        try:
            for data in self._decompressed(digest):
                if data:
                    newlines += int(np.count_nonzero(np.frombuffer(data, np.uint8) == 10))
                    self.nul = self.nul or b"\x00" in data
                    self.other_space = self.other_space or b"\t" in data or b"\x0b" in data or b"\x0c" in data
                    last = data[-1:]
        except (zlib.error, EOFError):
            self.ok = False
        except RunFormatError as exc:
            self.ok, self.error = False, exc
            while not self.parsed.wait(0.05):  # until the query has stopped: it may not have started yet
                self.con.interrupt()
        self.n_lines = newlines + (1 if last not in (b"", b"\n") else 0)
        self.sha256 = digest.hexdigest()


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class _Sniffed:
    """What the first 64 KiB of a file say about it, for the fast path."""

    gz: bool
    skip: int  # leading blank/comment lines, which DuckDB skips unread
    tag: str  # the first data line's run tag
    header: str | None
    warnings: list[str]


def _sniff(path: Path) -> _Sniffed | None:
    """The fast path's look at the file's start; None when the layout is not the plain one DuckDB reads."""
    if any(c in str(path) for c in "*?[") or str(path).startswith("~"):
        return None  # read_csv would expand the glob (or '~') and could read another file's rows
    magic = _text.first_bytes(path)
    _text.check_magic(path, magic, RunFormatError)
    gz = magic.startswith(_text.GZIP_MAGIC)
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            head = fh.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return None
    # "replace": the 64 KiB cut may split a character; bad bytes in whole lines make DuckDB fail anyway
    head_lines = head.decode("utf-8-sig", errors="replace").split("\n")
    skip = _leading(head_lines)
    if skip >= len(head_lines) - 1:  # header not finished inside the sniffed bytes, or no data at all
        return None
    first = head_lines[skip].rstrip("\r").split(" ")
    if len(first) != 6 or not first[5]:
        return None
    try:  # DuckDB skips the header lines unread, so check their encoding here
        b"\n".join(head.split(b"\n")[:skip]).decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    header, warnings = _header(path, head_lines[:skip])
    return _Sniffed(gz, skip, first[5], header, warnings)


def _fast_query(path: Path, sniffed: _Sniffed) -> str:
    """One streaming pass: typed columns, a 64-bit hash for the duplicate check, and `odd`: NULL on a normal row,
    the tag when it differs from the first line's, chr(0) when a field is empty (doubled spaces).

    Numeric checks run on the Arrow columns afterwards: cheaper than SQL expressions here. Numbers are read as
    text and cast by DuckDB, whose cast reads a blank-free field as C strtod does except that it also skips
    digit-separating underscores ('1_000' is 1000 to DuckDB, 1 to trec_eval's atof; tests/test_input_semantics.py
    checks this against libc). So a '_' in a number, like query id 'all', sends the file to the careful path
    (`odd` = chr(0)); a regex check per field would cost 30 %.
    """
    return f"""
        SELECT qid AS query_id, docid AS doc_id, TRY_CAST(score AS DOUBLE) AS score,
               TRY_CAST(rank AS DOUBLE) AS rank, hash(qid, docid) AS h,
               CASE WHEN contains(score, '_') OR contains(rank, '_')
                         OR qid = 'all' THEN chr(0)
                    WHEN tag = {_sql_str(sniffed.tag)} AND q0 IS NOT NULL THEN NULL
                    WHEN q0 IS NULL OR tag IS NULL THEN chr(0) ELSE tag END AS odd
        FROM read_csv({_sql_str(str(path))}, delim=' ', header=false, quote='', escape='',
             columns={{'qid': 'VARCHAR', 'q0': 'VARCHAR', 'docid': 'VARCHAR', 'rank': 'VARCHAR',
                       'score': 'VARCHAR', 'tag': 'VARCHAR'}},
             auto_detect=false, strict_mode=true, null_padding=false, skip={sniffed.skip},
             max_line_size={_text.MAX_LINE_BYTES}, compression={"'gzip'" if sniffed.gz else "'none'"},
             encoding='utf-8', parallel=true)
    """


def _fast(path: Path) -> ParsedRun | None:
    """DuckDB read_csv on the common layout; None means 'use the careful path' (never a wrong answer)."""
    sniffed = _sniff(path)
    if sniffed is None:
        return None
    raw, scan = _parse_scanning(path, sniffed)
    if raw is None or not _plain(raw, scan, sniffed.skip):
        return None
    rank = _int_rank(raw.column("rank"))
    tags = _tags(raw.column("odd"), sniffed.tag)
    if rank is None or tags is None or not _distinct_pairs(raw.column("h")):
        return None
    table = pa.table({"query_id": raw.column("query_id"), "doc_id": raw.column("doc_id"),
                      "score": raw.column("score"), "rank": rank}, schema=RUN_SCHEMA)
    return ParsedRun(table, scan.sha256, tags, sniffed.header, scan.n_lines,
                     tuple(sniffed.warnings + _tag_warnings(tags)))


def _parse_scanning(path: Path, sniffed: _Sniffed) -> tuple[pa.Table | None, _RawScan]:
    """DuckDB's parse while a thread hashes and scans the raw bytes; (None, scan) when DuckDB refused the file.
    A decompression limit passed is raised."""
    # DuckDB loads with the first file big enough to be worth it (see SMALL_RUN_BYTES), or with the store
    import duckdb

    query = _fast_query(path, sniffed)
    con = _text.connect()
    try:
        scan = _RawScan(path, sniffed.gz, con)
    except BaseException:
        con.close()
        raise
    scan.start()
    raw = None
    try:
        raw = con.sql(query).to_arrow_table()
    except duckdb.Error:
        pass
    finally:
        scan.parsed.set()
        scan.join()
        con.close()
    if scan.error is not None:
        raise scan.error
    return raw, scan


def _plain(raw: pa.Table, scan: _RawScan, skip: int) -> bool:
    """The parsed rows are the file's lines as trec_eval splits them, every field present and numbers finite."""
    n = raw.num_rows
    if n == 0 or not scan.ok or scan.nul or scan.other_space:
        return False  # e.g. 'q \tQ0 \td ...' splits into 6 fields on ' ' alone, with tabs inside the ids
    if any(raw.column(c).null_count for c in ("query_id", "doc_id", "score", "rank")):
        return False
    if n + skip > scan.n_lines:  # lines DuckDB split on something other than '\n' (a bare '\r')
        return False
    # Arrow kernels on the chunked columns: no concatenated copies (fresh memory is what costs here)
    if not pc.all(pc.is_finite(raw.column("score"))).as_py():
        return False
    # a '#' qid is a comment line in the middle: the careful path skips it
    return not pc.any(pc.starts_with(raw.column("query_id"), "#")).as_py()


def _int_rank(rank: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The rank column as int64, or None when a rank is fractional or beyond what a double holds exactly."""
    extremes = pc.min_max(rank).as_py()
    if max(abs(extremes["min"]), abs(extremes["max"])) >= _MAX_EXACT_RANK:
        return None
    try:
        return pc.cast(rank, pa.int64())  # a safe cast: refuses fractional ranks
    except pa.ArrowInvalid:
        return None


def _distinct_pairs(h: pa.ChunkedArray) -> bool:
    """No two rows share a (query, doc) hash: no duplicate pair (a collision, rare, sends the file to the
    careful path, which decides exactly)."""
    values = np.concatenate([c.to_numpy() for c in h.chunks])  # a fresh concatenation, sorted in place
    values.sort()
    return not (values[1:] == values[:-1]).any()


def _tags(odd: pa.ChunkedArray, first: str) -> tuple[str, ...] | None:
    """The run tags, the first line's first and the others sorted; None when a row had an empty field."""
    tags = [first]
    if odd.null_count < len(odd):
        others = pc.unique(odd.drop_null()).to_pylist()
        if "\x00" in others:
            return None
        tags += sorted(set(others) - {first})
    return tuple(tags)


# ----------------------------------------------------------------------------------------- careful path


def _careful(path: Path, encoding: str, allow_trailing_fields: bool = False) -> ParsedRun:
    """Split every line with Arrow kernels; check everything; report the first offending line."""
    text = _text.load_text(path, RunFormatError, encoding)
    lines = _text.lines_array(text.data)
    fields, counts, comment = _text.whitespace_fields(lines)
    data = (counts > 0) & ~comment
    problems, warnings_extra = _field_problems(counts, data, allow_trailing_fields)
    if text.bad_line is not None:
        problems.insert(0, (text.bad_line, text.bad_message or "unreadable line"))
    n_lines = len(lines) if text.bad_line is None else text.bad_line
    header, warnings = _careful_header(path, lines, data, text, problems)

    good = np.flatnonzero(data & ((counts >= 6) if allow_trailing_fields else (counts == 6)))
    if problems:  # only lines before the first problem matter now
        good = good[good + 1 < min(p[0] for p in problems)]
    picked = fields if len(good) == len(fields) else pc.take(fields, pa.array(good))
    raw = pa.table({name: _text.field(picked, j) for j, name in enumerate(("qid", "q0", "docid", "rank", "score",
                                                                             "tag"))})
    line_no = good + 1
    score, rank = _numbers_checked(raw, line_no, problems)
    repeat = _first_repeat(raw)
    if repeat is not None:
        i, first = repeat
        problems.append((int(line_no[i]), f"doc_id {raw['docid'][i].as_py()} appears twice for query "
                                          f"{raw['qid'][i].as_py()} (first at line {int(line_no[first])}); "
                                          "trec_eval aborts on duplicates"))
    _text.raise_first(RunFormatError, path, problems)
    if raw.num_rows == 0:
        raise RunFormatError(path, 1, "no run lines (the file is empty or has only blank/comment lines)")
    first_tag = raw["tag"][0].as_py()  # the first line's tag leads (trec_eval reports it); the others sorted
    run_tags = (first_tag, *sorted(set(pc.unique(raw.column("tag")).to_pylist()) - {first_tag}))
    columns = [raw.column("qid"), raw.column("docid"), pa.array(score, pa.float64()), pa.array(rank.astype(np.int64))]
    table = pa.table([c.cast(f.type) for c, f in zip(columns, RUN_SCHEMA, strict=True)], schema=RUN_SCHEMA)
    warnings += warnings_extra
    return ParsedRun(table, text.sha256, run_tags, header, n_lines, tuple(warnings + _tag_warnings(run_tags)))


def _field_problems(counts: np.ndarray, data: np.ndarray,
                    allow_trailing_fields: bool) -> tuple[list[tuple[int, str]], list[str]]:
    """(the first line without 6 fields, as a problem; the warning about text after the 6th field, if allowed)."""
    problems = []
    wrong = np.flatnonzero(data & ((counts < 6) if allow_trailing_fields else (counts != 6)))
    if wrong.size:
        i = int(wrong[0])
        msg = f"expected 6 fields ({RUN_FIELDS}), got {int(counts[i])}"
        if counts[i] > 6:
            msg += (" (a space inside a docid? trec_eval ignores text after the 6th field;"
                    " --allow-trailing-fields does too)")
        problems.append((i + 1, msg))
    long = np.flatnonzero(data & (counts > 6))
    if allow_trailing_fields and long.size:
        return problems, [f"{long.size} lines have text after the 6th field (first at line {int(long[0]) + 1}); "
                          "it was ignored"]
    return problems, []


def _careful_header(path: Path, lines: pa.Array, data: np.ndarray, text,
                    problems: list[tuple[int, str]]) -> tuple[str | None, list[str]]:
    """The ir_metadata header among the leading lines; an unclosed block cut by an unreadable line is that line's
    problem (appended to `problems`), not the header's."""
    data_idx = np.flatnonzero(data)
    lead = int(data_idx[0]) if data_idx.size else len(lines)
    try:
        return _header(path, lines.slice(0, lead).to_pylist())
    except RunFormatError:
        if text.bad_line is None:  # else the cut at the bad line may be what left the block unclosed
            raise
        problems.append((text.bad_line, text.bad_message or "unreadable line"))
        return None, []


def _numbers_checked(raw: pa.Table, line_no: np.ndarray,
                     problems: list[tuple[int, str]]) -> tuple[np.ndarray, np.ndarray]:
    """(score, rank) as C strtod reads them; the first line of each kind of bad number, and of query id 'all',
    appended to `problems`."""
    score, score_ok = _numbers.strtod_column(raw.column("score"))
    rank, rank_ok = _numbers.strtod_column(raw.column("rank"))
    bad = _text.first_true(~score_ok)
    if bad is not None:
        value = raw["score"][bad].as_py()
        problems.append((int(line_no[bad]), f"score must be a number, got {_text.clip(value)!r} "
                                            f"({_numbers.atof_note(value)})"))
    bad = _text.first_true(score_ok & ~np.isfinite(score))
    if bad is not None:
        problems.append((int(line_no[bad]), f"score must be a finite number, got {raw['score'][bad].as_py()!r}"))
    with np.errstate(invalid="ignore"):
        integral = rank_ok & np.isfinite(rank) & (np.trunc(rank) == rank)
    bad = _text.first_true(~integral)
    if bad is not None:
        problems.append((int(line_no[bad]), f"rank must be an integer, got {_text.clip(raw['rank'][bad].as_py())!r}"))
    bad = _text.first_true(integral & ~(np.abs(rank) < _MAX_EXACT_RANK))
    if bad is not None:
        problems.append((int(line_no[bad]), f"rank is out of range (|rank| must be below 2^53), "
                                            f"got {_text.clip(raw['rank'][bad].as_py())!r}"))
    bad = _text.first_true(pc.equal(raw.column("qid"), "all").to_numpy(zero_copy_only=False))
    if bad is not None:
        problems.append((int(line_no[bad]), _text.ALL_QUERY_ID))
    return score, rank


LARGE_ROWS = 1_000_000
"""From this many rows the careful path finds repeated (query, doc) pairs with DuckDB (a 64-bit hash of each pair,
sorted, the few candidates settled exactly): 0.5 CPU s at 7M rows against 3.9 s for dictionary codes."""


def _first_repeat(raw: pa.Table) -> tuple[int, int] | None:
    """(row, its pair's first row) of the first row that repeats a (qid, docid) pair, in row order; None if none."""
    if raw.num_rows < LARGE_ROWS:  # no DuckDB to start for a small file
        first = _text.first_of_pairs(raw.column("qid"), raw.column("docid"))
        if first is None:
            return None
        i = int(np.flatnonzero(first != np.arange(len(first)))[0])
        return i, int(first[i])
    con = _text.connect()
    try:
        con.register("raw", raw.append_column("i", pa.array(np.arange(raw.num_rows, dtype=np.int64))))
        h = con.sql("SELECT hash(qid, docid) AS h FROM raw ORDER BY i").to_arrow_table().column("h").to_numpy()
        hs = np.sort(h)
        suspects = np.unique(hs[1:][hs[1:] == hs[:-1]])
        if not suspects.size:
            return None
        con.register("suspect", pa.table({"i": pa.array(np.flatnonzero(np.isin(h, suspects)), pa.int64())}))
        dup = con.execute(
            """SELECT i, first FROM (
                   SELECT i, min(i) OVER (PARTITION BY qid, docid) AS first FROM raw SEMI JOIN suspect USING (i))
               WHERE i > first ORDER BY i LIMIT 1"""
        ).fetchall()
    finally:
        con.close()
    return (int(dup[0][0]), int(dup[0][1])) if dup else None
