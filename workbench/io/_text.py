"""Byte-level loading shared by every reader: decompress, check, and cut a file into numbered lines.

Everything here is vectorised (bytes methods, numpy, Arrow kernels) so that a checked read of a file with
millions of lines costs seconds, and every problem is reported at its 1-based physical line (blank and
comment lines count, as in an editor).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.env import env_int, env_number
from workbench.errors import InputFormatError

MAX_LINE_BYTES = 1 << 20
"""Longest accepted line (1 MiB): longer means a binary or mangled file, not a real record."""

ALL_QUERY_ID = (
    "query id 'all' is reserved: trec_eval reports the mean over all queries under 'all', "
    "so this query's rows could not be told from it"
)

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 8 << 20
_PIECE = 4 << 20  # most decompressed bytes per zlib call: a bomb is stopped before a call can blow memory up

MAX_DECOMPRESSED_ENV = "WORKBENCH_MAX_DECOMPRESSED_MB"
MAX_RATIO_ENV = "WORKBENCH_MAX_COMPRESSION_RATIO"
DEFAULT_MAX_DECOMPRESSED_MB = 8192
"""8 GiB of text: 30 times a 7M-line MS MARCO run (0.25 GB), 2.7 times the 8.8M-passage MS MARCO corpus. The
readers other than the run fast path hold the whole text in memory, and several times that while they split
it (2 GB of qrels lines need over 20 GB), so a larger file needs a larger machine as well as a larger limit."""
DEFAULT_MAX_RATIO = 100.0
"""Runs, qrels, topics and corpora gzip 3-15x; only crafted data (long runs of one byte) goes past ~200x, up to
deflate's 1032x."""
MOST_RATIO = 1032.0
"""Deflate's ceiling: a larger limit could never be reached, so WORKBENCH_MAX_COMPRESSION_RATIO=1032 turns the
ratio check off and anything above it is a mistake."""
RATIO_FLOOR = 16 << 20
"""The ratio is enforced only past this much output: small, repetitive test files may compress 300x."""
_OTHER_MAGIC = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
_UTF8 = {"utf-8", "utf8", "utf_8", "utf-8-sig"}


def is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in _UTF8


_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def check_file(path: Path, error_cls: type[InputFormatError]) -> None:
    """Refuse a path that is not a readable regular file, saying what it is.

    Looks with stat only: opening a FIFO would wait for a writer, and /dev/zero never ends.
    """
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise error_cls(path, None, "no such file") from None
    except OSError as exc:
        raise error_cls(path, None, f"cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise error_cls(path, None, "is a directory; expected a file")
    for test, what in _NOT_REGULAR:
        if test(mode):
            raise error_cls(path, None, f"not a regular file ({what}); expected a file")
    if not os.access(path, os.R_OK):
        raise error_cls(path, None, "permission denied")


def first_bytes(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def check_magic(path: Path, magic: bytes, error_cls: type[InputFormatError]) -> None:
    """Refuse compressed/UTF-16 files we cannot read with a message that says what they are."""
    for prefix, name in _OTHER_MAGIC.items():
        if magic.startswith(prefix):
            raise error_cls(path, 1, f"file is {name}-compressed; only plain text or gzip is supported")
    if magic.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise error_cls(path, 1, "file is UTF-32 encoded (byte order mark); convert it to UTF-8")
    if magic.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error_cls(path, 1, "file is UTF-16 encoded (byte order mark); convert it to UTF-8")


def iter_raw_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in iter_raw_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Text:
    """A file's decompressed bytes, cut before the first byte-level problem (if any).

    `data` holds only complete, valid UTF-8 lines that precede `bad_line`; readers check those lines for
    earlier errors and otherwise report (`bad_line`, `bad_message`), so the FIRST offending line wins.
    """

    data: bytes
    sha256: str
    bad_line: int | None = None
    bad_message: str | None = None


def _as_utf8(data: bytes, path: Path, encoding: str, error_cls: type[InputFormatError],
             problems: list[tuple[int, str]]) -> bytes:
    """`data` as UTF-8: checked when it should be UTF-8, else decoded from `encoding` up to its first undecodable
    byte; the problem (line, message) is appended to `problems`."""
    if is_utf8(encoding):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                (
                    line_of(data, exc.start),
                    f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); the file must be UTF-8 encoded",
                )
            )
        return data
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise error_cls(path, None, f"unknown encoding {encoding!r}") from None
    try:
        return data.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append((line_of(data, exc.start), f"cannot decode as {encoding}"))
        return data[: exc.start].decode(encoding, errors="ignore").encode("utf-8")


def load_text(path: str | Path, error_cls: type[InputFormatError], encoding: str = "utf-8") -> Text:
    """Read, decompress (gzip by magic bytes) and check a text file; never raises for content problems
    after the first line, it records the first one instead (see Text)."""
    path = Path(path)
    magic = first_bytes(path)
    check_magic(path, magic, error_cls)
    problems: list[tuple[int, str]] = []
    if magic.startswith(GZIP_MAGIC):
        data, sha, gz_problem = _decompress_checked(path, error_cls)
        if gz_problem is not None:
            problems.append((data.count(b"\n") + 1, gz_problem))
            data = data[: data.rfind(b"\n") + 1]
    else:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    data = _as_utf8(data, path, encoding, error_cls, problems)
    nul = data.find(b"\x00")
    if nul >= 0:
        problems.append((line_of(data, nul), "binary file (NUL byte); expected text"))
    starts, ends = line_bounds(data)
    long = np.flatnonzero(ends - starts > MAX_LINE_BYTES)
    if long.size:
        problems.append((int(long[0]) + 1, f"line is longer than {MAX_LINE_BYTES} bytes; not a text record"))
    if not problems:
        return Text(data, sha)
    line, message = min(problems)
    cut = int(starts[line - 1]) if line - 1 < starts.size else len(data)
    return Text(data[:cut], sha, line, message)


def decompression_limits() -> tuple[int, float]:
    """(most decompressed bytes, most decompressed/compressed ratio), from the environment or the defaults."""

    mb = env_int("WORKBENCH_MAX_DECOMPRESSED_MB", DEFAULT_MAX_DECOMPRESSED_MB)
    ratio = env_number("WORKBENCH_MAX_COMPRESSION_RATIO", DEFAULT_MAX_RATIO, minimum=1.0, maximum=MOST_RATIO)
    return mb << 20, ratio


class GzipTruncated(EOFError):
    """The file ends inside a gzip member."""


def gunzip(path: Path, error_cls: type[InputFormatError], digest=None,
           limits: tuple[int, float] | None = None) -> Iterator[bytes]:
    """Stream-decompress every gzip member of `path`, at most _PIECE bytes at a time.

    Raises `error_cls` (naming the file and the limit) as soon as the output passes the size or ratio limit
    (decompression_limits), zlib.error on a corrupt stream and GzipTruncated after the last bytes of a
    truncated one. `digest` is fed the raw (compressed) bytes; `limits` defaults to decompression_limits().
    """
    max_out, max_ratio = limits or decompression_limits()
    dec = zlib.decompressobj(zlib.MAX_WBITS | 16)
    fed = produced = 0
    in_member = False
    for chunk in iter_raw_chunks(path):
        if digest is not None:
            digest.update(chunk)
        fed += len(chunk)
        data = chunk
        while data:
            in_member = True
            piece = dec.decompress(data, _PIECE)
            data = dec.unconsumed_tail
            if dec.eof:
                data = dec.unused_data
                dec = zlib.decompressobj(zlib.MAX_WBITS | 16)
                in_member = False
            produced += len(piece)
            if produced > max_out:
                raise error_cls(path, None, f"decompresses to more than {max_out >> 20} MB, the limit "
                                            f"(set {MAX_DECOMPRESSED_ENV} to raise it)")
            if produced > RATIO_FLOOR and produced > max_ratio * (fed - len(data)):
                raise error_cls(path, None, f"decompresses to more than {max_ratio:g} times its size, the limit "
                                            f"(a gzip bomb? set {MAX_RATIO_ENV} to raise it)")
            if piece:
                yield piece
    if in_member:
        tail = dec.flush()
        if tail:
            yield tail
        raise GzipTruncated("truncated gzip stream")


def _decompress_checked(path: Path, error_cls: type[InputFormatError]) -> tuple[bytes, str, str | None]:
    """Decompress every gzip member (bounded); report truncation or corruption with the bytes before it."""
    digest = hashlib.sha256()
    out: list[bytes] = []
    try:
        for piece in gunzip(path, error_cls, digest):
            out.append(piece)
    except zlib.error as exc:  # the hash is of the whole file: read it again (corrupt files are rare)
        return b"".join(out), sha256_file(path), f"gzip stream is corrupt ({exc})"
    except GzipTruncated:
        return b"".join(out), digest.hexdigest(), "gzip stream is truncated (the file ends inside this line)"
    return b"".join(out), digest.hexdigest(), None


def line_of(data: bytes, offset: int) -> int:
    """1-based line number of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, before the newline) byte offsets of every physical line."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(data)]))
    if starts.size > 1 and starts[-1] == len(data):  # final newline: no empty last line
        starts, ends = starts[:-1], ends[:-1]
    elif len(data) == 0:
        starts, ends = starts[:0], ends[:0]
    return starts.astype(np.int64), ends.astype(np.int64)


def lines_array(data: bytes) -> pa.LargeStringArray:
    """Every physical line as one Arrow string (zero copy; the trailing '\\n' and any '\\r' stripped)."""
    starts, _ = line_bounds(data)
    offsets = np.concatenate((starts, [len(data)])).astype(np.int64)
    raw = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))
    return pc.ascii_rtrim(raw, characters="\r\n")


def whitespace_fields(lines: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Split on runs of ASCII whitespace (like trec_eval and str.split()).

    Returns the list array of fields, the field count per line and a mask of comment lines (first
    non-space character '#'; a '#' inside a field is data).
    """
    trimmed = pc.ascii_trim_whitespace(lines)
    fields = pc.ascii_split_whitespace(trimmed)
    counts = pc.list_value_length(fields).to_numpy(zero_copy_only=False).astype(np.int64)
    counts[pc.equal(pc.binary_length(trimmed), 0).to_numpy(zero_copy_only=False)] = 0  # "" splits to [""]
    comment = pc.starts_with(trimmed, "#").to_numpy(zero_copy_only=False)
    return fields, counts, comment


def field(fields: pa.Array, j: int) -> pa.Array:
    return pc.list_element(fields, j)


def raise_first(error_cls: type[InputFormatError], path: Path, problems: list[tuple[int, str]]) -> None:
    if problems:
        line, message = min(problems, key=lambda p: p[0])
        raise error_cls(path, line, message)


def clip(value: str, n: int = 60) -> str:
    return value if len(value) <= n else value[: n - 3] + "..."


@dataclass
class Lines:
    """The checked lines of a file: non-blank, non-comment lines and their 1-based physical numbers."""

    text: Text
    lines: pa.Array
    line_no: np.ndarray
    problems: list[tuple[int, str]]


def data_lines(path: Path, error_cls: type[InputFormatError], *, comments: bool) -> Lines:
    """Load a file and keep its data lines (blank lines, and '#' comment lines when allowed, dropped)."""
    text = load_text(path, error_cls)
    lines = lines_array(text.data)
    trimmed = pc.ascii_trim_whitespace(lines)
    keep = pc.greater(pc.binary_length(trimmed), 0).to_numpy(zero_copy_only=False)
    if comments:
        keep &= ~pc.starts_with(trimmed, "#").to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(keep)
    problems = [] if text.bad_line is None else [(text.bad_line, text.bad_message or "unreadable line")]
    return Lines(text, pc.take(lines, pa.array(idx, pa.int64())), idx + 1, problems)


def first_true(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def jsonl_fields(
    path: Path, error_cls: type[InputFormatError], lines: Lines, keys: tuple[str, ...],
    typed: tuple[str, ...] = ("_id",),
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Parse JSON-lines records with DuckDB's vectorised JSON functions; string values of `keys`, and for the
    `typed` keys their JSON type as column "<key>:type" (see jsonl_type_problems).

    Invalid JSON and non-object lines are reported by line; a missing key comes back as null.
    """

    problems = list(lines.problems)
    con = connect()
    try:
        con.register("src", pa.table({"line": lines.lines}))
        # every JSON function sits behind CASE WHEN valid: DuckDB raises on invalid JSON otherwise
        cols = ", ".join([f"CASE WHEN ok THEN json_extract_string(line, '$.{k}') END AS \"{k}\"" for k in keys]
                         + [f"CASE WHEN ok THEN json_type(line, '$.{k}') END AS \"{k}:type\"" for k in typed])
        table = con.sql(
            f"SELECT ok, kind, {cols} FROM (SELECT line, valid AND coalesce(kind = 'OBJECT', false) AS ok, kind "
            "FROM (SELECT line, json_valid(line) AS valid, "
            "CASE WHEN json_valid(line) THEN json_type(line) END AS kind FROM src))"
        ).to_arrow_table()
    finally:
        con.close()
    ok = table.column("ok").fill_null(False).to_numpy(zero_copy_only=False)
    bad = first_true(~ok)
    if bad is not None:
        kind = table.column("kind")[bad].as_py()
        what = "invalid JSON" if kind is None else f"expected a JSON object, got {kind.lower()}"
        problems.append((int(lines.line_no[bad]), what))
    return table.drop_columns(["ok", "kind"]), problems


def jsonl_type_problems(table: pa.Table, line_no: np.ndarray, key: str, types: tuple[str, ...],
                        what: str) -> list[tuple[int, str]]:
    """The first record whose `key` holds a JSON value of another type than `types` (DuckDB's json_type
    names; a null or missing value is reported elsewhere). DuckDB also takes NaN and Infinity, which are
    not JSON: they come back as DOUBLE."""
    kind = table.column(f"{key}:type")
    wrong = pc.and_(pc.is_valid(kind), pc.invert(pc.is_in(kind, pa.array([*types, "NULL"]))))
    bad = first_true(wrong.to_numpy(zero_copy_only=False))
    if bad is None:
        return []
    value = clip(table.column(key)[bad].as_py())
    return [(int(line_no[bad]), f'"{key}" must be {what}, got {kind[bad].as_py().lower()} {value}')]


def jsonl_id_problems(table: pa.Table, line_no: np.ndarray) -> list[tuple[int, str]]:
    """An `_id` must be a non-empty string or integer without whitespace: it has to be written as one field
    of a TREC run or qrels line."""
    problems = jsonl_type_problems(table, line_no, "_id", ("VARCHAR", "BIGINT", "UBIGINT"), "a string or an integer")
    ids = table.column("_id")
    empty = first_true(pc.equal(pc.binary_length(ids), 0).to_numpy(zero_copy_only=False))
    if empty is not None:
        problems.append((int(line_no[empty]), 'empty "_id"'))
    spaced = first_true(pc.match_substring_regex(ids, "[ \t\n\v\f\r]").to_numpy(zero_copy_only=False))
    if spaced is not None:
        problems.append((int(line_no[spaced]), f'"_id" {clip(ids[spaced].as_py())!r} contains whitespace, '
                                               "which cannot be written as one field of a TREC run or qrels line"))
    return problems


def first_of_pairs(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """For each row, the index of the first row holding the same (a, b) pair (a row i with first[i] != i
    repeats a pair); None when no pair repeats, the common case. Exact: pairs are compared by their dictionary
    codes, not by a hash. Arrow and NumPy only (no DuckDB, and not Arrow's group_by, whose Acero engine costs
    0.3 s to import), so that reading a qrels file or a small run starts nothing heavy."""
    n = len(a)
    codes = []
    for col in (a, b):
        encoded = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
        codes.append((encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(encoded.dictionary)))
    key = codes[0][0] * codes[1][1] + codes[1][0]  # < n * n: fits in 64 bits
    sorted_key = np.sort(key)
    if not (sorted_key[1:] == sorted_key[:-1]).any():
        return None
    order = np.argsort(key, kind="stable")  # stable: each pair's rows stay in row order
    sorted_key = key[order]
    start = np.ones(n, dtype=bool)
    start[1:] = sorted_key[1:] != sorted_key[:-1]
    first = np.empty(n, dtype=np.int64)
    first[order] = order[np.maximum.accumulate(np.where(start, np.arange(n), 0))]
    return first


def duplicate_first(values: pa.Array) -> tuple[int, int] | None:
    """(index of the first repeated value, index of its first occurrence), in row order; None if unique."""
    if len(values) == 0:
        return None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    codes = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    rep = np.flatnonzero(sorted_codes[1:] == sorted_codes[:-1]) + 1
    if rep.size == 0:
        return None
    later = order[rep]
    i = int(later.min())
    first = int(np.flatnonzero(codes == codes[i])[0])
    return i, first


def connect():
    """A private in-memory DuckDB connection used as a compute engine (no progress bar on stderr)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con
