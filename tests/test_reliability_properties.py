"""Issue 7, property-based: the run and qrels readers through the store.

* Random valid runs (any non-space Unicode ids, including quotes, SQL and markup look-alikes; any finite
  float written in any of several notations; spaces or tabs, CRLF, no final newline, comments, gzip) survive
  `workbench ingest` and `workbench runs export` exactly: the stored rows are the file's rows (score ==
  float(text), bit for bit), and the exported file reads back to the same (query, doc, score) rows.
* Random corruptions of valid run and qrels files either still parse (then the store stays consistent) or
  raise the documented InputFormatError subclass naming the file, and leave the store unchanged. Nothing else
  ever escapes.
"""

from __future__ import annotations

import gzip
import itertools
import math
import shutil
import struct

import pytest
from conftest import snapshot
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_reliability_support import store_problems

from workbench.errors import InputFormatError, QrelsFormatError, RunFormatError

# Any Unicode except whitespace/control characters (they separate or end fields), surrogates, and U+FEFF
# (a BOM at the start of the file is a BOM, not part of the first query id).
_ID_CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\ufeff\x85")
_ID = st.text(_ID_CHARS, min_size=1, max_size=10)
_QID = _ID.filter(lambda s: not s.startswith("#"))  # a line starting with '#' is a comment
_NASTY = st.sampled_from(["';DROP/**/TABLE/**/runs;--", "Robert');DROP_TABLE_runs;--", "[/x]", "[red]", "a'b\"c",
                          "%s", "{0}", "\\N", "NULL", "ümlaut", "文档", "#not-a-comment", "Q0", "1e5", "-0"])
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
_FORMATS = (repr, "{:.17g}".format, "{:e}".format, "{:.6f}".format, "{:+.3E}".format, lambda x: f"{x:.0f}")


@st.composite
def runs(draw):
    """(file bytes, expected rows) for a random valid TREC run in a random but valid layout."""
    qids = draw(st.lists(st.one_of(_QID, _NASTY.filter(lambda s: not s.startswith("#"))), min_size=1, max_size=4,
                         unique=True))
    rows = []
    for q in qids:
        docs = draw(st.lists(st.one_of(_ID, _NASTY), min_size=1, max_size=6, unique=True))
        for d in docs:
            x = draw(_FLOAT)
            text = draw(st.sampled_from(_FORMATS))(x)
            text = text if math.isfinite(float(text)) else repr(x)  # '{:+.3E}' rounds 1.7977e308 up to inf
            rank = draw(st.integers(-(10**9), 10**12))
            rows.append((q, d, rank, text))
    rows = draw(st.permutations(rows))
    tag = draw(_ID)
    sep = draw(st.sampled_from([" ", "\t", "  ", " \t"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [sep.join((q, "Q0", d, str(r), s, tag)) for q, d, r, s in rows]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "# a comment line")
    text = eol.join(lines) + (eol if draw(st.booleans()) else "")
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = gzip.compress(data, mtime=0)
    expected = sorted((q, d, float(s), r) for q, d, r, s in rows)
    return data, expected


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


@pytest.fixture(scope="module")
def round_trip_store(base, tmp_path_factory):
    db = tmp_path_factory.mktemp("roundtrip") / "s.duckdb"
    shutil.copyfile(base[0], db)
    return db


_names = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(run=runs())
def test_random_valid_runs_round_trip_through_ingest_and_export(run, round_trip_store, tmp_path_factory):
    from workbench.cli.main import main
    from workbench.io.runs import read_run
    from workbench.store import Store, get_run_rows

    data, expected = run
    db = round_trip_store
    name = f"p{next(_names)}"
    folder = tmp_path_factory.getbasetemp() / name
    folder.mkdir()
    src = folder / ("in.trec.gz" if data[:2] == b"\x1f\x8b" else "in.trec")
    src.write_bytes(data)
    assert main(["--db", str(db), "ingest", "-c", "base", str(src), "--name", name]) == 0
    stored = sorted((r["query_id"], r["doc_id"], r["score"], r["rank"])
                    for r in get_run_rows(Store(db), "base", name).to_pylist())
    assert [(q, d, _bits(s), r) for q, d, s, r in stored] == [(q, d, _bits(s), r) for q, d, s, r in expected]

    out = folder / "out"
    assert main(["--db", str(db), "runs", "export", "-c", "base", name, "--out-dir", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == [f"{name}.trec"]
    back = read_run(out / f"{name}.trec").table.to_pylist()
    assert sorted((r["query_id"], r["doc_id"], _bits(r["score"])) for r in back) == sorted(
        (q, d, _bits(s)) for q, d, s, _ in expected)


def test_round_trip_store_is_consistent(round_trip_store):
    assert store_problems(round_trip_store) == []


# ---------------------------------------------------------------------------------------------- corruption

_VALID_RUN = "".join(f"{q} Q0 doc{d} {r} {10 - r * 0.5:.2f} sys\n"
                     for q, (r, d) in itertools.product(("101", "102", "103"), enumerate((3, 1, 4, 5, 9), 1)))
_VALID_QRELS = "".join(f"{q} 0 doc{d} {g}\n" for q in ("101", "102", "103") for d, g in ((3, 1), (1, 0), (9, 2)))
_JUNK = st.sampled_from([b"\x00", b"\xff", b"\xe9", b"nan", b"inf", b"-", b".", b" ", b"\t", b"\n", b"\r", b"#",
                         b"\xef\xbb\xbf", b"\x1f\x8b", b"Q0", b"1e999", b"x" * 300, b"\xfe\xff", b"BZh", b"'"])


@st.composite
def corrupted(draw, valid: str):
    """A valid file (plain or gzipped) with 1-3 random edits: byte flips, junk inserted, ranges deleted,
    lines duplicated, truncation."""
    data = bytearray(valid.encode())
    gz = draw(st.booleans())
    if gz and draw(st.booleans()):  # corrupt the compressed stream itself
        data = bytearray(gzip.compress(bytes(data), mtime=0))
        gz = False
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dupline", "truncate"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(_JUNK)
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "dupline":
            lines = bytes(data).split(b"\n")
            k = draw(st.integers(0, len(lines) - 1))
            lines.insert(k, lines[k])
            data = bytearray(b"\n".join(lines))
        else:
            del data[i:]
    out = bytes(data)
    return gzip.compress(out, mtime=0) if gz else out


@pytest.fixture(scope="module")
def corruption_store(base, tmp_path_factory):
    db = tmp_path_factory.mktemp("corrupt") / "s.duckdb"
    shutil.copyfile(base[0], db)
    return db


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(data=corrupted(_VALID_RUN))
def test_corrupted_runs_raise_only_run_format_errors(data, corruption_store, tmp_path_factory):
    from workbench.services.ingest import ingest_run
    from workbench.store import Store

    assume(data != _VALID_RUN.encode())
    path = tmp_path_factory.getbasetemp() / f"corrupt-{next(_names)}.trec"
    path.write_bytes(data)
    before = corruption_store.read_bytes()
    try:
        ingest_run(Store(corruption_store), "base", path, name=path.stem.split(".")[0])
    except RunFormatError as exc:
        assert isinstance(exc, InputFormatError)
        assert str(exc).startswith(f"{path}:") and "\n" not in str(exc)
        assert exc.line is None or 1 <= exc.line <= data.count(b"\n") + 1 or data[:2] == b"\x1f\x8b"
        assert corruption_store.read_bytes() == before  # refused before any write: not a byte changed
    finally:
        path.unlink()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(data=corrupted(_VALID_QRELS))
def test_corrupted_qrels_raise_only_qrels_format_errors(data, corruption_store, tmp_path_factory):
    from workbench.services.collection import add_collection
    from workbench.store import Store

    path = tmp_path_factory.getbasetemp() / f"corrupt-{next(_names)}.qrels"
    path.write_bytes(data)
    before = corruption_store.read_bytes()
    try:
        add_collection(Store(corruption_store), "corrupt", qrels=path, replace=True)
    except QrelsFormatError as exc:
        assert str(exc).startswith(f"{path}:") and "\n" not in str(exc)
        assert corruption_store.read_bytes() == before
    finally:
        path.unlink()


def test_after_corruptions_the_store_is_consistent_and_still_holds_the_base(corruption_store, base):
    """Accepted corruptions added runs/collections; refused ones nothing. The base content is untouched."""
    assert store_problems(corruption_store) == []
    now, then = snapshot(corruption_store), snapshot(base[0])
    assert [r for r in now["runs"] if r[1] in ("bm25", "dense")] == then["runs"]
    assert [r for r in now["collections"] if r[0] == "base"] == then["collections"]
    assert now["scores"] == then["scores"]
