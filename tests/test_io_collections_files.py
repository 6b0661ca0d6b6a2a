"""read_qrels / read_topics / read_docs on the bundled real files and on the malformed corpus."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from workbench.errors import DocsFormatError, QrelsFormatError, TopicsFormatError
from workbench.io.docs import read_docs
from workbench.io.qrels import read_qrels
from workbench.io.topics import read_topics
from workbench.model import DOCS_SCHEMA, QRELS_SCHEMA, TOPIC_FIELDS_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
TREC_EVAL = ROOT / "tests" / "data" / "trec_eval"
DL20 = ROOT / "data" / "trec-dl-2020"
SCIFACT = ROOT / "data" / "scifact"
MALFORMED = ROOT / "tests" / "data" / "malformed"


def _counts(table, column):
    values = table.column(column).to_pylist()
    return {v: values.count(v) for v in sorted(set(values))}


def test_trec_qrels_fixture():
    qrels = read_qrels(TREC_EVAL / "qrels.test")
    assert qrels.schema == QRELS_SCHEMA
    assert qrels.num_rows == 3681
    assert _counts(qrels, "relevance") == {0: 3120, 1: 561}
    assert sorted(set(qrels.column("query_id").to_pylist())) == ["301", "302", "303"]


def test_qrels_with_comments_equals_plain_except_hash_docid():
    plain = read_qrels(TREC_EVAL / "qrels.test")
    commented = read_qrels(TREC_EVAL / "qrels.test.with-comments")
    docs = commented.column("doc_id").to_pylist()
    assert "CR#93E-1860" in docs  # '#' inside a docno is data, not a comment
    fixed = [d.replace("CR#93E-1860", "CR93E-1860") for d in docs]
    assert fixed == plain.column("doc_id").to_pylist()
    assert commented.column("relevance").equals(plain.column("relevance"))
    assert commented.column("query_id").equals(plain.column("query_id"))


def test_graded_qrels_with_negative_levels():
    qrels = read_qrels(TREC_EVAL / "qrels.rel_level")
    assert _counts(qrels, "relevance") == {-1: 304, 0: 2818, 1: 462, 2: 14, 3: 77, 4: 6}


def test_dl20_and_beir_qrels(tmp_path):
    dl = read_qrels(DL20 / "qrels.dl20-passage.txt")
    assert dl.num_rows == 11386 and len(set(dl.column("query_id").to_pylist())) == 54
    beir = read_qrels(SCIFACT / "qrels" / "test.tsv")
    assert beir.num_rows == 339
    assert beir.slice(0, 1).to_pylist() == [{"query_id": "1", "doc_id": "31715818", "relevance": 1}]
    gz = tmp_path / "q.gz"
    gz.write_bytes(gzip.compress((SCIFACT / "qrels" / "test.tsv").read_bytes()))
    assert read_qrels(gz).equals(beir)


def test_repeated_identical_judgment_collapses(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("1 0 a 1\n1 0 b 0\n1 0 a 1\n")
    assert read_qrels(path).to_pylist() == [
        {"query_id": "1", "doc_id": "a", "relevance": 1},
        {"query_id": "1", "doc_id": "b", "relevance": 0},
    ]


def test_topics_tsv_crlf():
    topics = read_topics(DL20 / "topics.dl20.txt")
    assert topics.schema == TOPIC_FIELDS_SCHEMA
    assert topics.num_rows == 200
    assert topics.slice(0, 1).to_pylist() == [{"query_id": "1030303", "text": "who is aziz hashim", "title": None,
                                               "description": None, "narrative": None}]


def test_topics_beir_jsonl():
    topics = read_topics(SCIFACT / "queries.jsonl").select(["query_id", "text"])
    assert topics.num_rows == 1109
    assert topics.slice(0, 1).to_pylist() == [
        {"query_id": "0", "text": "0-dimensional biomaterials lack inductive properties."}
    ]


def test_topics_trec_format(tmp_path):
    path = tmp_path / "topics.301-302"
    path.write_text(
        "<top>\n\n<num> Number: 301 \n<title> International Organized Crime \n\n<desc> Description: \n"
        "Identify organizations.\n\n<narr> Narrative: \nA relevant document.\n\n</top>\n\n"
        "<top>\n<num> Number: 302\n<title> Topic: Poliomyelitis and Post-Polio\n<desc> Description:\nx\n</top>\n"
    )
    assert read_topics(path).select(["query_id", "text"]).to_pylist() == [
        {"query_id": "301", "text": "International Organized Crime"},
        {"query_id": "302", "text": "Poliomyelitis and Post-Polio"},
    ]


def test_docs_beir_corpus_gz():
    docs = read_docs(SCIFACT / "corpus.jsonl.gz")
    assert docs.schema == DOCS_SCHEMA
    assert docs.num_rows == 5183
    first = docs.slice(0, 1).to_pylist()[0]
    assert first["doc_id"] == "4983"
    assert first["title"].startswith("Microstructural development of human newborn cerebral white matter")
    assert first["text"].startswith("Alterations of the architecture of cerebral white matter")


def test_docs_tsv_gz():
    docs = read_docs(DL20 / "passages.tsv.gz")
    assert docs.num_rows == 14091
    first = docs.slice(0, 1).to_pylist()[0]
    assert first["doc_id"] == "1001344" and first["title"] == ""
    assert first["text"].startswith("There are ways to save money, if your budget is tight.")


def _expected(reader: str) -> list[tuple[str, int, str]]:
    rows = (line.split("\t") for line in (MALFORMED / "EXPECTED.tsv").read_text().splitlines()[1:])
    return [(name, int(line), message) for name, kind, line, message in rows if kind == reader]


READERS = {
    "qrels": (read_qrels, QrelsFormatError),
    "topics": (read_topics, TopicsFormatError),
    "docs": (read_docs, DocsFormatError),
}
CASES = [(reader, *case) for reader in READERS for case in _expected(reader)]


def test_malformed_corpus_size():
    assert len(list(MALFORMED.glob("*"))) - 2 >= 30  # minus EXPECTED.tsv and make_corpus.py
    assert len(CASES) + len(_expected("run")) == len(list(MALFORMED.glob("*"))) - 2


@pytest.mark.parametrize(("reader", "name", "line", "message"), CASES, ids=lambda v: str(v))
def test_malformed_collection_files(reader, name, line, message):
    read, error = READERS[reader]
    path = MALFORMED / name
    with pytest.raises(error) as err:
        read(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert message in str(err.value)
