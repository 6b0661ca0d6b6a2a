"""Numbers in run and qrels fields, read the way trec_eval reads them, or refused.

trec_eval 10.0 splits each line on C `isspace` and reads the score with `atof` (get_trec_results.c) and the
relevance grade with `atol` (get_qrels.c), in the C locale; it ignores the rank. `atof`/`atol` read the
longest prefix that is a number and silently drop the rest: `1_000` is 1, `1,5` is 1, `1.5` as a grade is 1,
`high` is 0. We accept a field only when that prefix is the whole field, and then read the same number:

- a score or rank is a whole-field C `strtod` number: decimal (`+1`, `.5`, `5.`, `1e-3`), hexadecimal
  (`0x1p3`, `0x1.8p1`) or an `inf`/`nan` spelling (which the readers then refuse as not finite);
- a grade is a whole-field C `strtol` base-10 integer (`+1`, `-1`, `007`).

Python's float()/int() and DuckDB's casts are both more lenient (digit-separating underscores, Unicode digits,
surrounding blanks), so every value passes these grammars before it is converted.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DECIMAL = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
HEX = r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
SPECIAL = r"[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)"
INTEGER = r"[+-]?[0-9]+"
STRTOD = f"(?:{DECIMAL}|{HEX}|{SPECIAL})"
"""A whole field that C strtod reads completely (RE2 and Python `re` syntax alike)."""

_PREFIXES = [re.compile(p) for p in (HEX, DECIMAL, SPECIAL)]
_INT_PREFIX = re.compile(INTEGER)


def _whole(values: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(values, f"^(?:{pattern})$").to_numpy(zero_copy_only=False)


def strtod_column(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value, ok) per field: the float64 C strtod reads when it reads the whole field (inf and nan included,
    overflow gives +-inf as strtod does); ok is False where strtod would stop early (value then NaN)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    out = np.full(n, np.nan)
    if n == 0:
        return out, np.zeros(0, bool)
    values = values.fill_null("")
    dec = _whole(values, DECIMAL)
    if dec.any():  # Arrow's cast rounds correctly, as glibc strtod does (tested against libc)
        out[dec] = pc.cast(values.filter(pa.array(dec)), pa.float64()).to_numpy(zero_copy_only=False)
    rest = ~dec
    hexa = np.zeros(n, bool)
    special = np.zeros(n, bool)
    if rest.any():
        hexa = _whole(values, HEX) & rest
        special = _whole(values, SPECIAL) & rest
        for i in np.flatnonzero(hexa):  # rare (printf's %a): few values, read one by one
            out[i] = _fromhex(values[int(i)].as_py())
        for i in np.flatnonzero(special):
            text = values[int(i)].as_py().lower()
            out[i] = math.nan if text.lstrip("+-").startswith("n") else -math.inf if text[0] == "-" else math.inf
    return out, dec | hexa | special


def _fromhex(text: str) -> float:
    try:
        return float.fromhex(text)
    except OverflowError:
        return -math.inf if text.startswith("-") else math.inf


def strtol_column(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, ok, in_range) per field: the integer C strtol (base 10) reads when it reads the whole field;
    in_range is False where it does not fit in 64 bits (atol would clamp it)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    out = np.zeros(n, np.int64)
    if n == 0:
        return out, np.zeros(0, bool), np.zeros(0, bool)
    values = values.fill_null("")
    ok = _whole(values, INTEGER)
    significant = pc.binary_length(pc.utf8_ltrim(pc.utf8_ltrim(values, characters="+-"), characters="0"))
    small = ok & pc.less_equal(significant, 18).to_numpy(zero_copy_only=False)
    if small.any():
        text = pc.utf8_ltrim(values.filter(pa.array(small)), characters="+")
        out[small] = pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False)
    in_range = small.copy()
    for i in np.flatnonzero(ok & ~small):  # 19 digits or more: rare, settled exactly with Python ints
        value = int(values[int(i)].as_py())
        if -(2**63) <= value < 2**63:
            out[i], in_range[i] = value, True
    return out, ok, in_range


def strtod_prefix(text: str) -> str:
    """The part of `text` C strtod reads (its longest numeric prefix; '' when it reads nothing)."""
    return max((m.group(0) for p in _PREFIXES if (m := p.match(text))), key=len, default="")


def strtol_prefix(text: str) -> str:
    m = _INT_PREFIX.match(text)
    return m.group(0) if m else ""


def atof_note(text: str) -> str:
    """What trec_eval would have read instead, for the error message."""
    prefix = strtod_prefix(text)
    if not prefix:
        return "trec_eval would read it as 0"
    return f"trec_eval would read only {prefix!r}"


def atol_note(text: str) -> str:
    prefix = strtol_prefix(text)
    if not prefix:
        return "trec_eval would read it as 0"
    return f"trec_eval would read only {prefix!r}"
