"""read_run / write_run / run warnings on real files: trec_eval's fixtures, TREC DL 2020 runs, variants."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import RunFormatError
from workbench.io.qrels import read_qrels
from workbench.io.runs import _careful, _fast, read_run
from workbench.io.trec_writer import write_run
from workbench.io.validate import run_format_warnings, run_qrels_warnings
from workbench.model import RUN_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
TREC_EVAL = ROOT / "tests" / "data" / "trec_eval"
DL20_RUNS = ROOT / "runs" / "dl20"
BM25 = DL20_RUNS / "bm25.trec"


def test_results_test_tabs_and_padded_scores():
    run = read_run(TREC_EVAL / "results.test")
    assert run.table.schema == RUN_SCHEMA
    assert run.table.num_rows == 1500 and run.n_lines == 1500
    assert sorted(run.table.column("query_id").unique().to_pylist()) == ["301", "302", "303"]
    assert run.run_tags == ("STANDARD",)
    first = run.table.slice(0, 1).to_pylist()[0]
    assert first == {"query_id": "301", "doc_id": "FR940202-2-00150", "score": 2.129133, "rank": 104}


def test_hash_inside_docid_is_data_not_comment():
    run = read_run(TREC_EVAL / "results.comment.test")
    assert run.table.num_rows == 30100
    assert len(run.table.column("query_id").unique()) == 301
    assert run.run_tags == ("comment.test",)
    assert run.table.column("doc_id")[0].as_py() == "msmarco_v2.1_doc_50_2286987788#13_3087841662"


def test_trailing_fields_refused_unless_allowed():
    with pytest.raises(RunFormatError, match=r"results\.trunc:1: expected 6 fields .* got 9"):
        read_run(TREC_EVAL / "results.trunc")
    run = read_run(TREC_EVAL / "results.trunc", allow_trailing_fields=True)
    assert run.table.num_rows == 584
    assert "5 lines have text after the 6th field" in run.warnings[0]


@pytest.mark.parametrize("path", sorted(DL20_RUNS.glob("*.trec")), ids=lambda p: p.name)
def test_dl20_runs(path):
    run = read_run(path)
    assert run.table.schema == RUN_SCHEMA
    lines = path.read_bytes().count(b"\n")
    assert run.table.num_rows == lines == run.n_lines
    assert len(run.table.column("query_id").unique()) == 54
    assert run.run_tags == ("rank",)


def test_fast_and_careful_paths_agree():
    for path in (BM25, TREC_EVAL / "results.comment.test"):
        fast = _fast(path)
        assert fast is not None
        careful = _careful(path, "utf-8")
        assert fast.table.equals(careful.table)
        assert (fast.sha256, fast.n_lines, fast.run_tags) == (careful.sha256, careful.n_lines, careful.run_tags)


def _variants(raw: bytes) -> dict[str, bytes]:
    body = raw.replace(b"\n", b"\r\n")
    header = b"# ir_metadata.start\n# tag: bm25\n# method:\n#   name: bm25\n# ir_metadata.end\n"
    lines = raw.split(b"\n")
    return {
        "gzip": gzip.compress(raw),
        "crlf": body,
        "no_final_newline": raw.rstrip(b"\n"),
        "bom": b"\xef\xbb\xbf" + raw,
        "comments_and_blanks": b"# a comment\n\n"
        + b"\n".join(lines[:100])
        + b"\n  # mid comment\n\n"
        + b"\n".join(lines[100:]),
        "ir_metadata": header + raw,
        "tabs_and_padding": b"\n".join(b"  " + line.replace(b" ", b" \t ") for line in lines if line) + b"\n",
        "gzip_crlf_bom_metadata": gzip.compress(b"\xef\xbb\xbf" + header.replace(b"\n", b"\r\n") + body),
    }


@pytest.mark.parametrize("variant", list(_variants(b"x")))
def test_odd_variants_parse_to_identical_table(tmp_path, variant):
    raw = BM25.read_bytes()
    reference = read_run(BM25)
    path = tmp_path / f"bm25.{variant}"
    path.write_bytes(_variants(raw)[variant])
    run = read_run(path)
    assert run.table.equals(reference.table)
    assert run.run_tags == ("rank",)
    text = path.read_bytes()
    text = gzip.decompress(text) if text[:2] == b"\x1f\x8b" else text
    assert run.n_lines == text.count(b"\n") + (not text.endswith(b"\n"))
    if "metadata" in variant:
        assert run.metadata_header == "tag: bm25\nmethod:\n  name: bm25\n"
    else:
        assert run.metadata_header is None


def test_sha256_is_of_raw_bytes(tmp_path):
    import hashlib

    path = tmp_path / "r.gz"
    path.write_bytes(gzip.compress(BM25.read_bytes()))
    assert read_run(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_write_read(tmp_path):
    original = read_run(TREC_EVAL / "results.test").table
    out = write_run(tmp_path / "out.trec", original, tag="rt", metadata={"tag": "rt", "params": {"k1": 0.9}})
    back = read_run(out)
    assert back.run_tags == ("rt",)
    assert back.metadata_header == "tag: rt\nparams:\n  k1: 0.9\n"
    key = [("query_id", "ascending"), ("doc_id", "ascending")]
    cols = ["query_id", "doc_id", "score"]
    assert back.table.select(cols).sort_by(key).equals(original.select(cols).sort_by(key))
    assert run_format_warnings(back.table) == []  # written in trec_eval order, rank = position
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_refuses_unwritable_values(tmp_path):
    from workbench.errors import WorkbenchError

    bad = pa.table({"query_id": ["1"], "doc_id": ["a b"], "score": [1.0], "rank": [1]}, schema=RUN_SCHEMA)
    with pytest.raises(WorkbenchError, match="whitespace"):
        write_run(tmp_path / "x", bad, tag="t")
    nan = pa.table({"query_id": ["1"], "doc_id": ["a"], "score": [float("nan")], "rank": [1]}, schema=RUN_SCHEMA)
    with pytest.raises(WorkbenchError, match="finite"):
        write_run(tmp_path / "x", nan, tag="t")
    assert not (tmp_path / "x").exists()


def test_format_warnings_rank_and_ties():
    rows = {
        # q1: ranks reversed w.r.t. score order; q2: positions 5 and 6 tie (straddles @5)
        "query_id": ["q1"] * 3 + ["q2"] * 7,
        "doc_id": ["a", "b", "c", "d1", "d2", "d3", "d4", "d5", "d6", "d7"],
        "score": [3.0, 2.0, 1.0, 9.0, 8.0, 7.0, 6.0, 5.0, 5.0, 1.0],
        "rank": [3, 2, 1, 1, 2, 3, 4, 6, 5, 7],  # d6 before d5: trec_eval's tie order
    }
    warnings = run_format_warnings(pa.table(rows, schema=RUN_SCHEMA))
    assert len(warnings) == 2
    assert "rank column disagrees" in warnings[0] and "1 of 2 queries (e.g. q1)" in warnings[0]
    assert "@5 in 1 query" in warnings[1]


def test_qrels_warnings_on_real_pair():
    run = read_run(TREC_EVAL / "results.comment.test").table
    qrels = read_qrels(TREC_EVAL / "qrels.comment.test")
    warnings = run_qrels_warnings(run, qrels)
    assert warnings[0].startswith("270 run queries have no judgments")
    assert len(warnings) == 1
    assert run_qrels_warnings(read_run(BM25).table, read_qrels(ROOT / "data/trec-dl-2020/qrels.dl20-passage.txt")) == []


def test_unknown_encoding_and_latin1(tmp_path):
    path = tmp_path / "r.trec"
    path.write_bytes("1 Q0 caf\xe9 1 1.0 t\n".encode("latin-1"))
    with pytest.raises(RunFormatError, match=r":1: invalid UTF-8"):
        read_run(path)
    assert read_run(path, encoding="latin-1").table.column("doc_id")[0].as_py() == "café"
    with pytest.raises(RunFormatError, match="unknown encoding"):
        read_run(path, encoding="no-such-codec")


# ------------------------------------------------------------------------------------------- properties

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-_.#:", min_size=1, max_size=8).filter(
    lambda s: not s.startswith("#")
)
_score = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def _runs(draw):
    qids = draw(st.lists(_token, min_size=1, max_size=4, unique=True))
    rows = []
    for q in qids:
        docs = draw(st.lists(_token, min_size=1, max_size=8, unique=True))
        rows += [(q, d, draw(_score)) for d in docs]
    return pa.table(
        {
            "query_id": [r[0] for r in rows],
            "doc_id": [r[1] for r in rows],
            "score": [r[2] for r in rows],
            "rank": list(range(1, len(rows) + 1)),
        },
        schema=RUN_SCHEMA,
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=_runs())
def test_property_round_trip_exact(tmp_path, table):
    path = write_run(tmp_path / "p.trec", table, tag="prop")
    back = read_run(path).table
    key = [("query_id", "ascending"), ("doc_id", "ascending")]
    a = table.select(["query_id", "doc_id", "score"]).sort_by(key).to_pylist()
    b = back.select(["query_id", "doc_id", "score"]).sort_by(key).to_pylist()
    assert a == b  # float equality: the written text parses back to the same float64


_CORRUPTIONS = ("replace_score", "replace_rank", "drop_field", "nan", "duplicate_line")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=_runs(), kind=st.sampled_from(_CORRUPTIONS), where=st.integers(min_value=0), junk=_token)
def test_property_corruption_raises_run_format_error(tmp_path, table, kind, where, junk):
    path = tmp_path / "c.trec"
    rows = zip(*(table.column(c).to_pylist() for c in ("query_id", "doc_id", "rank", "score")), strict=True)
    lines = [f"{q} Q0 {d} {r} {s!r} prop" for q, d, r, s in rows]
    i = where % len(lines)
    fields = lines[i].split(" ")
    if kind == "replace_score":
        fields[4] = junk + "x"
    elif kind == "replace_rank":
        fields[3] = junk + "x"
    elif kind == "drop_field":
        del fields[where % 6]
    elif kind == "nan":
        fields[4] = "nan"
    lines[i] = " ".join(fields)
    if kind == "duplicate_line":
        lines.insert(i + 1, lines[i])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFormatError) as err:
        read_run(path)
    assert str(err.value).startswith(f"{path}:{i + 2 if kind == 'duplicate_line' else i + 1}:")


# ------------------------------------------------------------------------------------ malformed corpus

MALFORMED = ROOT / "tests" / "data" / "malformed"


def _expected(reader: str) -> list[tuple[str, int, str]]:
    rows = (line.split("\t") for line in (MALFORMED / "EXPECTED.tsv").read_text().splitlines()[1:])
    return [(name, int(line), message) for name, kind, line, message in rows if kind == reader]


@pytest.mark.parametrize(("name", "line", "message"), _expected("run"), ids=lambda v: str(v))
def test_malformed_runs(name, line, message):
    path = MALFORMED / name
    with pytest.raises(RunFormatError) as err:
        read_run(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert message in str(err.value)
    assert err.value.line == line and err.value.path == str(path)
