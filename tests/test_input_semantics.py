"""Issue 15, input parsing: numbers are read as trec_eval reads them, or refused; and the inputs that used to crash
or hang (gzip and YAML bombs, directories, FIFOs, devices, names with a newline) are refused with one line.

trec_eval 10.0 reads a run's score with `atof` and a qrels grade with `atol` (get_trec_results.c, get_qrels.c), in the
C locale, on fields split by `isspace`; it ignores the rank. The reference here is the C library itself, called
through ctypes: a value is accepted exactly when strtod/strtol reads the whole field, and then it is the number
they return. The malformed-file corpus (tests/data/malformed, run by test_reliability_malformed.py) holds the
refusals' exact messages; this file holds the properties, the parity on odd but valid spellings, and the cases
that need a process, a FIFO or an environment variable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gzip
import json
import math
import os
import shutil
import threading
from pathlib import Path

import duckdb
import ir_measures
import pyarrow as pa
import pytest
from conftest import snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reliability_support import make_base_store, run_lines

from workbench.errors import ManifestError, QrelsFormatError, RunFormatError, WorkbenchError
from workbench.io import _numbers, _text
from workbench.io._yaml import YamlLimitError, safe_load
from workbench.io.qrels import read_qrels
from workbench.io.runs import _careful, _fast, read_run
from workbench.naming import check_name
from workbench.services.ingest import ingest_run
from workbench.store import Store

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_LIBC.strtod.restype = ctypes.c_double
_LIBC.strtod.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
_LIBC.strtol.restype = ctypes.c_long
_LIBC.strtol.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]


def c_strtod(field: str) -> float | None:
    """What trec_eval's atof reads from `field` if it reads all of it, else None."""
    raw = field.encode()
    buf = ctypes.create_string_buffer(raw)
    end = ctypes.c_char_p()
    value = _LIBC.strtod(buf, ctypes.byref(end))
    used = ctypes.cast(end, ctypes.c_void_p).value - ctypes.addressof(buf)
    return value if raw and used == len(raw) else None


def c_strtol(field: str) -> int | None:
    """What trec_eval's atol reads from `field` if it reads all of it without overflow, else None."""
    raw = field.encode()
    buf = ctypes.create_string_buffer(raw)
    end = ctypes.c_char_p()
    ctypes.set_errno(0)
    value = _LIBC.strtol(buf, ctypes.byref(end), 10)
    used = ctypes.cast(end, ctypes.c_void_p).value - ctypes.addressof(buf)
    ok = raw and used == len(raw) and ctypes.get_errno() == 0 and not raw[:1].isspace()
    return value if ok else None


_PIECES = [*"0123456789.eE+-_xXpPaAbBcCdDfFiInNtTyY(),", "inf", "nan", "0x", "e+", "e-", "\u0661"]
FIELDS = (
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join)
    | st.floats(allow_nan=False).map(repr)
    | st.floats(allow_nan=False).map(float.hex)
    | st.integers(-(10**25), 10**25).map(str)
    | st.from_regex(r"\A[+-]?[0-9]{0,22}\.?[0-9]{0,22}([eE][+-]?[0-9]{1,4})?\Z")
    | st.from_regex(r"\A[+-]?[0-9]{1,3}(_[0-9]{1,3}){1,3}\Z")
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
ON_FILES = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))  # a file and a parse each


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


# ---------------------------------------------------------------------------------- the number grammars


@PROPERTY
@given(st.lists(FIELDS, min_size=1, max_size=30))
def test_strtod_column_is_c_strtod_on_the_whole_field(fields):
    values, ok = _numbers.strtod_column(pa.array(fields))
    for field, value, accepted in zip(fields, values, ok, strict=True):
        ref = c_strtod(field)
        assert accepted == (ref is not None), field
        if ref is not None:
            assert _same_float(value, ref), (field, value, ref)


@PROPERTY
@given(FIELDS)
def test_the_error_message_names_what_trec_eval_would_read(field):
    """strtod_prefix is the prefix C strtod consumes (what trec_eval silently keeps of a refused field)."""
    raw = field.encode()
    buf = ctypes.create_string_buffer(raw)
    end = ctypes.c_char_p()
    _LIBC.strtod(buf, ctypes.byref(end))
    used = ctypes.cast(end, ctypes.c_void_p).value - ctypes.addressof(buf)
    assert _numbers.strtod_prefix(field).encode() == raw[:used]


@PROPERTY
@given(st.lists(FIELDS | st.integers(-(2**64), 2**64).map(lambda i: f"{'+' if i % 3 == 0 and i > 0 else ''}{i}"),
                min_size=1, max_size=30))
def test_strtol_column_is_c_strtol_on_the_whole_field(fields):
    values, _, in_range = _numbers.strtol_column(pa.array(fields))
    for field, value, accepted in zip(fields, values, in_range, strict=True):
        ref = c_strtol(field)
        assert accepted == (ref is not None), field
        if ref is not None:
            assert int(value) == ref, field


_DUCKDB = duckdb.connect()


@PROPERTY
@given(FIELDS.filter(lambda f: "_" not in f))
def test_duckdb_casts_a_blank_free_field_like_strtod_apart_from_underscores(field):
    """The run fast path lets DuckDB cast score and rank text and sends only fields holding '_' to the careful
    path: sound only while DuckDB accepts no other spelling strtod would read differently."""
    got = _DUCKDB.execute("SELECT TRY_CAST(? AS DOUBLE)", [field]).fetchone()[0]
    if got is not None:
        ref = c_strtod(field)
        assert ref is not None and _same_float(got, ref), (field, got, ref)


def _expected_run(lines: list[tuple[str, str, str]]) -> tuple[int | None, list[float]]:
    """(first bad 1-based line or None, scores) by the reference: whole-field strtod, finite score, integral rank
    below 2^53, query id not 'all'."""
    scores = []
    for i, (qid, rank, score) in enumerate(lines, 1):
        s, r = c_strtod(score), c_strtod(rank)
        if (qid == "all" or s is None or not math.isfinite(s) or r is None or not math.isfinite(r)
                or r != math.trunc(r) or abs(r) >= 2**53):
            return i, []
        scores.append(s)
    return None, scores


RANKS = st.integers(1, 1000).map(str) | st.sampled_from(["+3", "2.0", "1e2", "0x10", "1_0", "9223372036854775808",
                                                         "2.5", "-1", "inf"])


@ON_FILES
@given(st.lists(st.tuples(st.sampled_from(["1", "2", "all"]), RANKS, FIELDS), min_size=1, max_size=12))
def test_both_run_paths_read_what_trec_eval_reads_or_refuse_at_the_line(tmp_path_factory, rows):
    lines = [(q if i % 5 else q.replace("all", "1"), r, s) for i, (q, r, s) in enumerate(rows)]
    path = tmp_path_factory.mktemp("run") / "r.trec"
    path.write_text("".join(f"{q} Q0 d{i} {r} {s} tag\n" for i, (q, r, s) in enumerate(lines)))
    bad, scores = _expected_run(lines)
    fast = _fast(path)
    if bad is not None:
        assert fast is None
        with pytest.raises(RunFormatError) as err:
            _careful(path, "utf-8")
        assert err.value.line == bad
        with pytest.raises(RunFormatError) as err:
            read_run(path)
        assert err.value.line == bad
        return
    careful = _careful(path, "utf-8")
    for parsed in (careful, read_run(path), fast):
        if parsed is None:  # the fast path may always decline (hex floats, for one)
            continue
        got = parsed.table.column("score").to_pylist()
        assert all(_same_float(a, b) for a, b in zip(got, scores, strict=True)), (got, scores)
    if fast is not None:
        assert fast.table.equals(careful.table)


VALID = (st.floats(allow_nan=False, allow_infinity=False).map(repr)
         | st.floats(allow_nan=False, allow_infinity=False).map(float.hex)
         | st.from_regex(r"\A[+-]?([0-9]{1,20}\.?[0-9]{0,20}|\.[0-9]{1,20})([eE][+-]?[0-9]{1,3})?\Z"))


@ON_FILES
@given(st.lists(VALID, min_size=1, max_size=40))
def test_valid_spellings_give_the_same_scores_on_both_paths(tmp_path_factory, scores):
    path = tmp_path_factory.mktemp("run") / "r.trec"
    path.write_text("".join(f"1 Q0 d{i} {i + 1} {s} tag\n" for i, s in enumerate(scores)))
    ref = [c_strtod(s) for s in scores]
    if not all(math.isfinite(r) for r in ref):  # 1e999 and the like: refused on both paths
        assert _fast(path) is None
        return
    careful, fast = _careful(path, "utf-8"), _fast(path)
    assert all(_same_float(a, b) for a, b in zip(careful.table.column("score").to_pylist(), ref, strict=True))
    if fast is not None:
        assert fast.table.equals(careful.table)


def test_the_fast_path_takes_decimal_spellings_and_declines_the_rest(tmp_path):
    path = tmp_path / "r.trec"
    path.write_text("1 Q0 a +1 +.5 t\n1 Q0 b 2. 5. t\n1 Q0 c 3 1E-3 t\n1 Q0 d 4 00012 t\n1 Q0 e 5 -0 t\n")
    fast, careful = _fast(path), _careful(path, "utf-8")
    assert fast is not None and fast.table.equals(careful.table)
    assert fast.table.column("score").to_pylist() == [0.5, 5.0, 0.001, 12.0, -0.0]
    assert fast.table.column("rank").to_pylist() == [1, 2, 3, 4, 5]
    for odd in ("0x1p3", "1_0"):  # hex: DuckDB cannot read it; an underscore: DuckDB would misread it
        path.write_text(f"1 Q0 a 1 {odd} t\n")
        assert _fast(path) is None


@ON_FILES
@given(st.lists(FIELDS | st.integers(-(2**64), 2**64).map(str), min_size=1, max_size=12), st.booleans())
def test_qrels_grades_are_read_as_atol_reads_them_or_refused(tmp_path_factory, grades, beir):
    path = tmp_path_factory.mktemp("qrels") / ("q.tsv" if beir else "q.txt")
    if beir:
        path.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"1\td{i}\t{g}\n" for i, g in enumerate(grades)))
    else:
        path.write_text("".join(f"1 0 d{i} {g}\n" for i, g in enumerate(grades)))
    ref = [c_strtol(g) for g in grades]
    if None in ref:
        with pytest.raises(QrelsFormatError) as err:
            read_qrels(path)
        assert err.value.line == ref.index(None) + 1 + beir
    else:
        assert read_qrels(path).column("relevance").to_pylist() == ref


# ------------------------------------------------------------------ parity on odd but valid spellings

# trec_eval 10.0 (built from the bundled source) printed exactly the same for ODD_RUN and PLAIN_RUN with these
# qrels (-q -m P.1,2,3 -m recip_rank -m ndcg_cut.5 -m map):
#   q1: P_1 1.0000  P_2 0.5000  P_3 0.3333  recip_rank 1.0000  ndcg_cut_5 0.4430  map 0.6333
#   q2: P_1 1.0000  P_2 1.0000  P_3 1.0000  recip_rank 1.0000  ndcg_cut_5 0.7579  map 1.0000
ODD_QRELS = "q1 0 a +2\nq1 0 b 01\nq1 0 c 0\nq1 0 d -1\nq1 0 e +0\nq1 0 g 1\nq2 0 a 1\nq2 0 x 3\nq2 0 y +1\n"
ODD_RUN = (
    "q1 Q0 a 1 0x1p-2 t\n"  # 0.25
    "q1 Q0 b 2 +.5 t\n"  # 0.5
    "q1 Q0 c 3 5. t\n"  # 5
    "q1 Q0 d 4 1E0 t\n"  # 1
    "q1 Q0 e 5 -0x1.8p1 t\n"  # -3
    "q1 Q0 f 6 0.25e1 t\n"  # 2.5
    "q1 Q0 g 7 0X1.4P+2 t\n"  # 5, tied with c: trec_eval puts g first (doc_id descending)
    "q2 Q0 a +1 00012 t\n"  # 12
    "q2 Q0 b 2.0 1e-400 t\n"  # underflows to 0
    "q2 Q0 x 3 -0 t\n"  # -0 == 0: b, x and y tie, in the order y, x, b
    "q2 Q0 y 4e0 0e99999 t\n"  # 0
)
PLAIN_RUN = ("q1 Q0 a 1 0.25 t\nq1 Q0 b 2 0.5 t\nq1 Q0 c 3 5 t\nq1 Q0 d 4 1 t\nq1 Q0 e 5 -3 t\nq1 Q0 f 6 2.5 t\n"
             "q1 Q0 g 7 5 t\nq2 Q0 a 1 12 t\nq2 Q0 b 2 0 t\nq2 Q0 x 3 0 t\nq2 Q0 y 4 0 t\n")
TREC_EVAL = {
    ("q1", "P@1"): 1.0, ("q1", "P@2"): 0.5, ("q1", "P@3"): 1 / 3, ("q1", "RR"): 1.0, ("q1", "nDCG@5"): 0.4430,
    ("q1", "AP"): 0.6333,
    ("q2", "P@1"): 1.0, ("q2", "P@2"): 1.0, ("q2", "P@3"): 1.0, ("q2", "RR"): 1.0, ("q2", "nDCG@5"): 0.7579,
    ("q2", "AP"): 1.0,
}


def test_odd_but_valid_numbers_score_as_trec_eval_scores_them(cli, db, tmp_path):
    qrels, run, plain = tmp_path / "odd.qrels", tmp_path / "odd.trec", tmp_path / "plain.trec"
    qrels.write_text(ODD_QRELS)
    run.write_text(ODD_RUN)
    plain.write_text(PLAIN_RUN)
    assert cli("collection", "add", "odd", "--qrels", qrels).code == 0
    assert cli("ingest", "-c", "odd", run).code == 0
    stored = cli("runs", "show", "odd", "-c", "odd", "--json").json()
    assert stored["n_rows"] == 11
    measures = ["P@1", "P@2", "P@3", "RR", "nDCG@5", "AP"]
    res = cli("evaluate", "-c", "odd", "-m", *measures, "--runs", "odd", "--per-query", "--json")
    got = {(r["query_id"], r["measure"]): r["value"] for r in res.json()["scores"]}
    for key, value in TREC_EVAL.items():  # trec_eval prints four decimals
        assert got[key] == pytest.approx(value, abs=5e-5), key
    # an independent reference: ir_measures on the same judgments and run written in plain decimals
    plain_qrels = [ir_measures.Qrel(q, d, int(g)) for q, _, d, g in (ln.split() for ln in ODD_QRELS.splitlines())]
    ref = {(m.query_id, str(m.measure)): m.value for m in ir_measures.iter_calc(
        [ir_measures.parse_measure(m) for m in measures], plain_qrels, ir_measures.read_trec_run(str(plain)))}
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_a_run_spelled_with_underscores_is_refused_where_python_and_duckdb_would_read_1000(cli, db, tmp_path):
    """The issue's case: P@1 = 1.0 was stored where trec_eval gives 0.0."""
    (tmp_path / "q.txt").write_text("1 0 b 1\n")
    assert cli("collection", "add", "c", "--qrels", tmp_path / "q.txt").code == 0
    before = snapshot(db)
    run = tmp_path / "u.trec"
    run.write_text("1 Q0 a 1 1_000 t\n1 Q0 b 2 2 t\n")
    res = cli("ingest", "-c", "c", run)
    assert res.code == 2
    assert res.err.strip() == f"error: {run}:1: score must be a number, got '1_000' (trec_eval would read only '1')"
    assert snapshot(db) == before


# ------------------------------------------------------------------------------------ decompression


def _multi_member_bomb(path: Path, total_mb: int) -> Path:
    """`total_mb` MB of run lines as that many 1 MB gzip members: tiny to write, large to inflate."""
    member = gzip.compress(b"1 Q0 d1 1 1.0 t\n" * (1 << 16), 9, mtime=0)
    path.write_bytes(member * total_mb)
    return path


def test_the_fast_path_stops_duckdb_at_the_ratio_limit(tmp_path):
    """DuckDB reads .gz itself; the scan beside it enforces the limit and interrupts it, so the fast path raises
    the limit's error instead of handing a gigabyte to the careful path."""
    path = _multi_member_bomb(tmp_path / "bomb.trec.gz", 1024)  # 1 GiB of text in ~1 MB
    with pytest.raises(RunFormatError, match="decompresses to more than 100 times its size") as err:
        _fast(path)
    assert err.value.line is None and str(err.value).startswith(f"{path}: ")
    with pytest.raises(RunFormatError, match="decompresses to more than 100 times its size"):
        read_run(path)


def test_the_size_limit_is_configurable_and_names_its_variable(cli, db, tmp_path, monkeypatch):
    (tmp_path / "q.txt").write_text("1 0 d1 1\n")
    assert cli("collection", "add", "c", "--qrels", tmp_path / "q.txt").code == 0
    before = snapshot(db)
    lines = "".join(f"{q} Q0 d{i} {i} {1000 - i}.{q} t\n" for q in range(60) for i in range(1, 1001))
    path = tmp_path / "big.trec.gz"
    path.write_bytes(gzip.compress(lines.encode(), 6, mtime=0))  # ~1.4 MB of text, an ordinary ratio
    monkeypatch.setenv("WORKBENCH_MAX_DECOMPRESSED_MB", "1")
    res = cli("ingest", "-c", "c", path)
    assert res.code == 2
    assert res.err.strip() == (f"error: {path}: decompresses to more than 1 MB, the limit "
                               "(set WORKBENCH_MAX_DECOMPRESSED_MB to raise it)")
    qrels = tmp_path / "big.qrels.gz"
    qrels.write_bytes(gzip.compress("".join(f"{q} 0 d{i} 1\n" for q in range(300) for i in range(1000)).encode()))
    res = cli("collection", "add", "c2", "--qrels", qrels)
    assert res.code == 2 and "decompresses to more than 1 MB, the limit" in res.err
    assert snapshot(db) == before
    monkeypatch.setenv("WORKBENCH_MAX_DECOMPRESSED_MB", "2")
    assert cli("ingest", "-c", "c", path).code == 0  # the same file under a larger limit


@pytest.mark.parametrize(("var", "value"), [
    ("WORKBENCH_MAX_DECOMPRESSED_MB", "abc"), ("WORKBENCH_MAX_DECOMPRESSED_MB", "0"),
    ("WORKBENCH_MAX_DECOMPRESSED_MB", "-5"), ("WORKBENCH_MAX_DECOMPRESSED_MB", "1.5"),
    ("WORKBENCH_MAX_DECOMPRESSED_MB", "1_000"), ("WORKBENCH_MAX_DECOMPRESSED_MB", "\u0661"),
    ("WORKBENCH_MAX_COMPRESSION_RATIO", "nan"), ("WORKBENCH_MAX_COMPRESSION_RATIO", "inf"),
    ("WORKBENCH_MAX_COMPRESSION_RATIO", "0.5"), ("WORKBENCH_MAX_COMPRESSION_RATIO", "x"),
    ("WORKBENCH_MAX_COMPRESSION_RATIO", "1_0"), ("WORKBENCH_MAX_COMPRESSION_RATIO", "5000"),
])
def test_junk_limits_are_one_line_errors(cli, db, tmp_path, monkeypatch, var, value):
    (tmp_path / "q.txt").write_text("1 0 d1 1\n")
    assert cli("collection", "add", "c", "--qrels", tmp_path / "q.txt").code == 0
    before = snapshot(db)
    run = tmp_path / "r.trec.gz"
    run.write_bytes(gzip.compress(b"1 Q0 d1 1 1.0 t\n"))
    monkeypatch.setenv(var, value)
    res = cli("ingest", "-c", "c", run)
    assert res.code == 2
    expected = "an integer from 1 to 2147483647" if var.endswith("_MB") else "a number from 1 to 1032"
    assert res.err.strip().splitlines() == [f"error: environment variable {var}={value!r}: expected {expected}"]
    assert snapshot(db) == before


def test_gzip_members_and_limits_at_the_edge_are_read_whole(tmp_path, monkeypatch):
    """A file under both limits reads whole; the size limit counts every member of a multi-member file."""
    text = b"".join(b"1 Q0 d%d %d %d t\n" % (i, i, 10**6 - i) for i in range(1, 60001))
    path = tmp_path / "ok.trec.gz"
    path.write_bytes(gzip.compress(text[: len(text) // 2], mtime=0) + gzip.compress(text[len(text) // 2:], mtime=0))
    monkeypatch.setenv("WORKBENCH_MAX_DECOMPRESSED_MB", str(len(text) // (1 << 20) + 1))
    assert read_run(path).table.num_rows == 60000
    assert b"".join(_text.gunzip(path, RunFormatError)) == text


@pytest.mark.slow
def test_the_runs_page_refuses_an_uploaded_gzip_bomb(tmp_path, monkeypatch):
    """The dashboard's upload goes through the same readers: a one-line notice, the store unchanged."""
    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    db, _ = make_base_store(tmp_path / "base")
    before = snapshot(db)
    monkeypatch.setenv("WORKBENCH_DB", str(db))
    at = AppTest.from_file(ROOT / "app.py", default_timeout=120)
    at.run()
    at.switch_page("workbench/app/pages/runs.py").run()
    bomb = _multi_member_bomb(tmp_path / "bomb.trec.gz", 64).read_bytes()
    at.file_uploader[0].upload("bomb.trec.gz", bomb, "application/gzip")
    at.button[-1].click().run()
    from test_app_pages import shown  # the page's text is escaped Markdown (common.plain): compare what it shows

    errors = [shown(e.value) for e in at.error]
    assert any(e.startswith("bomb.trec.gz: decompresses to more than 100 times its size") for e in errors), errors
    assert not at.exception
    assert snapshot(db) == before


# ------------------------------------------------------------------------------------------ YAML


def _laughs(levels: int) -> str:
    lines = ["a: &a [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_yaml_bombs_are_refused_before_anything_is_built():
    with pytest.raises(YamlLimitError, match="more than 1,000,000 nodes") as err:
        safe_load(_laughs(9))  # 9^9 = 387 million strings once expanded
    assert err.value.problem_mark.line + 1 == 7  # 'g': the first value past a million nodes
    # merge keys copy mappings when PyYAML flattens them: they are counted like any other alias
    merge_bomb = "a: &a {k0: 1, k1: 1}\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} {{<<: *{chr(97 + i)}, "
        + ", ".join(f"x{j}: *{chr(97 + i)}" for j in range(10)) + "}\n" for i in range(8))
    with pytest.raises(YamlLimitError, match="more than 1,000,000 nodes"):
        safe_load(merge_bomb)
    with pytest.raises(YamlLimitError, match="recursive alias"):
        safe_load("a: &a {b: [*a]}\n")
    assert safe_load(_laughs(5))["e"][0][0][0][0] == ["lol"] * 9  # 9^5: well within the limit


def test_an_ir_metadata_bomb_is_refused_on_both_run_paths(tmp_path):
    header = "".join(f"# {line}\n" for line in _laughs(9).splitlines())
    path = tmp_path / "bomb.trec"
    path.write_text("# ir_metadata.start\n" + header + "# ir_metadata.end\n" + run_lines(["101"], 3, "t", 0))
    for read in (read_run, lambda p: _careful(p, "utf-8"), _fast):
        with pytest.raises(RunFormatError, match=r":8: ir_metadata header: aliases expand this value"):
            read(path)


def test_manifest_key_types_and_duplicates_in_one_load(tmp_path):
    """A duplicate inside a merged mapping is not a duplicate (YAML merge semantics); the explicit key wins."""
    from workbench.services.manifest import load_manifest

    (tmp_path / "q.txt").write_text("1 0 d 1\n")
    m = tmp_path / "m.yaml"
    m.write_text("version: 1\ncollections:\n  c: {<<: {qrels: q.txt, description: merged}, description: mine}\n")
    assert load_manifest(m).collections["c"].description == "mine"
    m.write_text("collections:\n  c: {qrels: q.txt}\n  1: {qrels: q.txt}\n")
    with pytest.raises(ManifestError, match=r"m\.yaml:3: collection name must be a string, got 1"):
        load_manifest(m)


# --------------------------------------------------------------------------------- odd file types


def _odd_file(kind: str, folder: Path) -> tuple[Path, str]:
    if kind == "directory":
        (folder / "a_dir").mkdir()
        return folder / "a_dir", "is a directory; expected a file"
    if kind == "fifo":
        os.mkfifo(folder / "a_fifo")
        return folder / "a_fifo", "not a regular file (a FIFO); expected a file"
    return Path("/dev/zero"), "not a regular file (a character device); expected a file"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["directory", "fifo", "dev_zero"])
@pytest.mark.parametrize("target", ["run", "qrels", "topics", "docs", "manifest"])
def test_directories_fifos_and_devices_are_named_and_never_read(base, cli, db, tmp_path, kind, target):
    base_db, inputs = base
    shutil.copyfile(base_db, db)
    before = snapshot(db)
    path, message = _odd_file(kind, tmp_path)
    if target == "docs" and kind == "directory":  # documents may come as a folder of files: this one has none
        message = "folder holds no documents files"
    args = {
        "run": ["ingest", "-c", "base", path, "--name", "bm25", "--replace"],
        "qrels": ["collection", "add", "base", "--replace", "--qrels", path, "--topics", inputs["topics"]],
        "topics": ["collection", "add", "other", "--qrels", inputs["qrels"], "--topics", path],
        "docs": ["collection", "add", "other", "--qrels", inputs["qrels"], "--docs", path],
        "manifest": ["build", "--manifest", path, "--no-score"],
    }[target]
    stop = threading.Event()
    if kind == "fifo":  # a reader that opened the FIFO would wait for a writer: be one, so it fails, not hangs
        threading.Thread(target=_release, args=(path, stop), daemon=True).start()
    try:
        res = cli(*args)
    finally:
        stop.set()
    assert res.code == 2
    assert res.err.strip() == f"error: {path}: {message}"
    assert snapshot(db) == before


@pytest.mark.timeout(60)
def test_a_documents_folder_checks_every_file_in_it(base, cli, db, tmp_path):
    """A folder of documents is read file by file through the same checks: a FIFO inside is named, not opened or
    skipped, and each gzip file is held to the decompression limit."""
    base_db, inputs = base
    shutil.copyfile(base_db, db)
    before = snapshot(db)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.tsv").write_text("d1\tone\n")
    os.mkfifo(folder / "b_fifo")
    res = cli("collection", "add", "other", "--qrels", inputs["qrels"], "--docs", folder)
    assert res.code == 2
    assert res.err.strip() == f"error: {folder / 'b_fifo'}: not a regular file (a FIFO); expected a file"
    (folder / "b_fifo").unlink()
    _multi_member_bomb(folder / "c.tsv.gz", 64)
    res = cli("collection", "add", "other", "--qrels", inputs["qrels"], "--docs", folder)
    assert res.code == 2
    assert res.err.startswith(f"error: {folder / 'c.tsv.gz'}: decompresses to more than 100 times its size")
    assert snapshot(db) == before


def _release(path: Path, stop: threading.Event) -> None:
    """Open and close the FIFO's writing end whenever a reader waits on it (a non-blocking open fails without)."""
    while not stop.wait(0.2):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            continue


# ---------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("char", [chr(c) for c in [*range(32), 127]])
@pytest.mark.parametrize("where", ["end", "middle"])
def test_no_control_character_is_accepted_anywhere_in_a_name(char, where):
    name = "abc" + char if where == "end" else "ab" + char + "c"
    with pytest.raises(WorkbenchError) as err:
        check_name(name)
    assert repr(name) in str(err.value) and "\n" not in str(err.value)


def test_names_with_a_trailing_newline_are_refused_by_the_cli(base, cli, db, tmp_path):
    base_db, inputs = base
    shutil.copyfile(base_db, db)
    before = snapshot(db)
    res = cli("ingest", "-c", "base", inputs["bm25"], "--name", "abc\n")  # refused as the option is parsed
    assert res.code == 2 and res.err == ("error: workbench ingest: argument --name: expected a non-empty value on one "
                                         "line, got 'abc\\n' (see 'workbench ingest --help')\n")
    stem = tmp_path / "run\n.trec"  # the run name comes from the file's stem
    stem.write_bytes(inputs["bm25"].read_bytes())
    res = cli("ingest", "-c", "base", stem)  # the CLI refuses the path itself; the library the name it gives
    assert res.code == 2 and res.err.startswith("error: workbench ingest: argument files: expected a non-empty "
                                                "value on one line, got ") and res.err.count("\n") == 1
    with pytest.raises(WorkbenchError) as err:
        ingest_run(Store(db), "base", stem)
    assert str(err.value).startswith("invalid run name 'run\\n': ") and "\n" not in str(err.value)
    res = cli("collection", "add", "coll\n", "--qrels", inputs["qrels"])
    assert res.code == 2 and res.err.startswith("error: workbench collection add: argument name: expected a "
                                                "non-empty value on one line, got 'coll\\n'")
    assert snapshot(db) == before


def test_a_path_with_a_newline_keeps_the_error_on_one_line(base, cli, db, tmp_path):
    base_db, _ = base
    shutil.copyfile(base_db, db)
    path = tmp_path / "bad\nqrels.txt"
    path.write_text("1 0 a 1_0\n")
    shown = repr(str(path))
    expected = f"{shown}:1: relevance must be an integer, got '1_0' (expected qid iter docid rel); " \
               "trec_eval would read only '1'"
    with pytest.raises(QrelsFormatError) as err:
        read_qrels(path)
    assert str(err.value) == expected
    res = cli("collection", "add", "c", "--qrels", path)  # the CLI refuses such a path as it parses the option
    assert res.code == 2 and res.err.startswith("error: workbench collection add: argument --qrels: expected a "
                                                "non-empty value on one line") and res.err.count("\n") == 1
    manifest = tmp_path / "m.yaml"  # a manifest can name it: the reader's error is still one line
    manifest.write_text(f"version: 1\ncollections:\n  c: {{qrels: {json.dumps(path.name)}}}\n")
    res = cli("build", "--manifest", manifest, "--no-score")
    assert res.code == 2 and res.err == f"error: {expected}\n"
