"""The TREC shapes users bring (issue 16 items 1-3): topic files, SGML/SMART documents, qrels whitespace.

Fixtures: tests/data/topics/ (one file per topic shape), tests/data/trec-mini/ (SGML documents in three folders,
one gzipped, Robust04-style topics, qrels with every whitespace trec_eval accepts), tests/data/cranfield-mini/
(SMART documents and queries, 3- and 4-column qrels).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import ir_measures
import pytest

from workbench.errors import DocsFormatError, QrelsFormatError, TopicsFormatError
from workbench.io.docs import read_docs
from workbench.io.qrels import read_qrels
from workbench.io.topics import read_topics
from workbench.model import DOCS_SCHEMA, TOPIC_FIELDS_SCHEMA

DATA = Path(__file__).resolve().parent / "data"
TOPICS = DATA / "topics"
MINI = DATA / "trec-mini"
CRAN = DATA / "cranfield-mini"


def ids_texts(table):
    return list(zip(table.column("query_id").to_pylist(), table.column("text").to_pylist(), strict=True))


# ------------------------------------------------------------------------------------------------------ topics
@pytest.mark.parametrize(("name", "field", "expected"), [
    ("trec1-051-052.txt", "title", [("051", "Airbus Subsidies"), ("052", "South African Sanctions")]),
    ("trec1-051-052.txt", "description", [
        ("051", "Document will discuss government assistance to Airbus Industrie, or mention a trade dispute "
                "between Airbus and a U.S. aircraft producer over the issue of subsidies."),
        ("052", "Document discusses sanctions against South Africa.")]),
    ("closed-one-line.txt", "title", [
        ("1", "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed "
              "aircraft"),
        ("2", "what are the structural and aeroelastic problems associated with flight of high speed aircraft"),
        ("4", "what problems of heat conduction in composite slabs have been solved so far")]),
    ("closed-multiline.txt", "title+description", [
        ("401", "foreign minorities, Germany What language and cultural differences impede the integration of "
                "foreign minorities in Germany?"),
        ("402", "behavioral genetics What is happening in the field of behavioral genetics?")]),
    ("trec-covid.xml", "title", [("1", "coronavirus origin"), ("2", "coronavirus response to weather changes")]),
    ("trec-covid.xml", "description", [("1", "what is the origin of COVID-19"),
                                       ("2", "how does the coronavirus respond to changes in the weather")]),
    ("web-track.xml", "description", [  # the subtopics' texts are not the topic's description
        ("1", "Find information on President Barack Obama's family history, including genealogy, national "
              "origins, places and dates of birth, etc."),
        ("2", "Find information on French Lick Resort & Casino in Indiana.")]),
    ("ntcir.xml", "title", [("0001", "mobile phone battery")]),
])
def test_topic_shapes(name, field, expected):
    topics = read_topics(TOPICS / name, field=field)
    assert topics.schema == TOPIC_FIELDS_SCHEMA
    assert ids_texts(topics) == expected
    for qid in topics.column("query_id").to_pylist():  # an id never holds markup, labels or spaces
        assert qid.strip() == qid and not set(qid) & set("<>: /")


def test_robust04_topics_keep_every_field():
    rows = read_topics(MINI / "topics.301-303.txt").to_pylist()
    assert [r["query_id"] for r in rows] == ["301", "302", "303"]
    assert rows[0] == {
        "query_id": "301", "text": "International Organized Crime", "title": "International Organized Crime",
        "description": "Identify organizations that participate in international criminal activity, the activity, "
                       "and, if possible, collaborating organizations and the countries involved.",
        "narrative": "A relevant document must as a minimum identify the organization and the type of illegal "
                     "activity (e.g., Columbian cartel exporting cocaine).",
    }
    # TREC-1's narrative stops at the next tag (<con>), and its title loses the "Topic:" label
    trec1 = read_topics(TOPICS / "trec1-051-052.txt").to_pylist()[0]
    assert trec1["narrative"].endswith("British or Spanish government(s).")
    assert read_topics(TOPICS / "web-track.xml").column("narrative").null_count == 2


def test_smart_queries_have_one_text_whatever_the_field():
    for field in ("title", "description", "title+description"):
        topics = read_topics(CRAN / "cran.qry", field=field)
        assert ids_texts(topics)[2] == ("004", "what problems of heat conduction in composite slabs have been "
                                               "solved so far .")


def test_gzipped_topics_and_crlf(tmp_path):
    text = (TOPICS / "closed-multiline.txt").read_text().replace("\n", "\r\n")
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert ids_texts(read_topics(path)) == ids_texts(read_topics(TOPICS / "closed-multiline.txt"))


@pytest.mark.parametrize(("text", "line", "message"), [
    ("<top><num>1</num><title>a</title></top>\n", 1, "topic 1 has no <desc> (topic field 'description')"),
    ("<top>\n<num> 7\n<title>\n<desc> d\n</top>\n", 3, "topic 7 has an empty <title>"),
    ("<top><num>1 2</num><title>a</title></top>\n", 1, "expected one query id in <num>, got '1 2'"),
    ("<top><num></num><title>a</title></top>\n", 1, "empty <num>"),
    ("<top><num>1</num><title>a</title><title>b</title></top>\n", 1, "two <title> fields in one topic"),
    ("<top><num>1</num><title>a</title></top>\nstray words\n", 2, "text outside <top>...</top>"),
    ("<topics><topic number='1'><question>q</question></topic></topics>\n", 1, "has no <query> or <title>"),
    ("<topics><topic><query>q</query></topic></topics>\n", 1, "topic without <num>"),
    ("<doc>not topics</doc>\n", 1, "expected TREC topics"),
    (".I 1\n.W\na\n.I 1\n.W\nb\n", 4, "query id 1 appears twice (first at line 1)"),
    (".I 1 2\n.W\na\n", 1, "expected one id after .I"),
])
def test_topic_refusals_name_the_line(tmp_path, text, line, message):
    path = tmp_path / "topics.txt"
    path.write_text(text)
    with pytest.raises(TopicsFormatError) as err:
        read_topics(path, field="description" if "no <desc>" in message else "title")
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)


def test_topic_field_needs_fields(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("1\thello\n")
    with pytest.raises(TopicsFormatError, match="topic field 'description' needs a file whose topics have fields"):
        read_topics(path, field="description")
    with pytest.raises(TopicsFormatError, match="unknown topic field 'desc'"):
        read_topics(path, field="desc")


# --------------------------------------------------------------------------------------------------- documents
def test_sgml_documents_from_a_folder_of_files_some_gzipped():
    docs = read_docs(MINI / "docs")
    assert docs.schema == DOCS_SCHEMA
    by_id = {r["doc_id"]: r for r in docs.to_pylist()}
    assert sorted(by_id) == ["FT911-1", "FT911-2", "FT911-3", "LA010189-0001", "LA010189-0002", "LA010189-0003",
                             "WSJ880101-0001", "WSJ880101-0002", "WSJ880101-0003"]
    la = by_id["LA010189-0001"]  # LA Times: HEADLINE is the title; DATE and TEXT the text; SECTION, DOCID dropped
    assert la["title"] == "MAFIA FAMILIES TIED TO DRUG TRAFFICKING ACROSS BORDERS"
    assert la["text"] == ("January 1, 1989, Sunday, Home Edition Federal prosecutors said the organized crime "
                          "families moved heroin through Sicily and New York, an international network of drug "
                          "trafficking & money laundering. The investigation named bosses of the Mafia in three "
                          "countries.")
    wsj = by_id["WSJ880101-0001"]  # WSJ: HL title; DD, LP and TEXT in document order
    assert wsj["title"] == "Hubble Images Show Galaxy Clusters"
    assert wsj["text"].startswith("01/01/88 Astronomers using the Hubble telescope reported sharp images")
    ft = by_id["FT911-1"]  # FT (gzipped): PROFILE, BYLINE, PUB are not content tags
    assert ft["title"] == "FT 14 MAY 91 / Polio vaccine campaign reaches remote villages"
    assert "By A REPORTER" not in ft["text"] and "Financial Times" not in ft["text"]
    # several files name by name give the same documents as their folder
    files = sorted(p for p in (MINI / "docs").rglob("*") if p.is_file())
    assert read_docs(files).sort_by("doc_id").equals(docs.sort_by("doc_id"))


def test_untagged_and_web_documents(tmp_path):
    path = tmp_path / "docs.sgml"
    path.write_text(
        "<DOC><DOCNO>c1</DOCNO> experimental investigation of a <i>wing</i> </DOC>\n"
        "<doc>\n<docno> GX000-01 </docno>\n<DOCHDR>\nhttp://example.gov/ HTTP/1.1 200 OK\n</DOCHDR>\n"
        "<html><head><title>Agency Page</title><script>var x = 1;</script></head>\n"
        "<body><p>Grants &amp; loans</p></body></html>\n</doc>\n"
    )
    assert read_docs(path).to_pylist() == [
        {"doc_id": "c1", "title": "", "text": "experimental investigation of a wing"},
        {"doc_id": "GX000-01", "title": "Agency Page", "text": "Grants & loans"},
    ]


def test_smart_documents():
    docs = read_docs(CRAN / "cran.all").to_pylist()
    assert [d["doc_id"] for d in docs] == ["1", "2", "3", "4", "5", "6"]
    assert docs[0]["title"] == "experimental investigation of the aerodynamics of a wing in a slipstream ."
    assert docs[0]["text"].endswith("increase due to slipstream at different angles of attack of the wing .")
    assert "brenckman" not in docs[0]["text"]  # .A and .B are not text


@pytest.mark.parametrize(("text", "line", "message"), [
    ("<DOC>\n<DOCNO>a</DOCNO>\ntext\n<DOC>\n<DOCNO>b</DOCNO>\n</DOC>\n", 1, "<DOC> without </DOC>"),
    ("<DOC>\n<DOCNO>a</DOCNO>\n</DOC>\n<DOC>\n<DOCNO>b</DOCNO>\n", 4, "<DOC> without </DOC>"),
    ("<DOC>\n<TEXT>x</TEXT>\n</DOC>\n", 1, "document without <DOCNO>"),
    ("<DOC>\n<DOCNO>a b</DOCNO>\n</DOC>\n", 2, "expected one doc id in <DOCNO>, got 'a b'"),
    ("<DOC>\n<DOCNO>a</DOCNO>\n<TEXT>\nnever closed\n</DOC>\n", 3, "<TEXT> without </TEXT>"),
    ("<DOC><DOCNO>a</DOCNO></DOC>\njunk\n", 2, "text outside <DOC>...</DOC>"),
    ("<DOC><DOCNO>a</DOCNO></DOC>\n<DOC><DOCNO>a</DOCNO></DOC>\n", 2, "doc id a appears twice (first at line 1)"),
])
def test_document_refusals_name_the_line(tmp_path, text, line, message):
    path = tmp_path / "docs.sgml"
    path.write_text(text)
    with pytest.raises(DocsFormatError) as err:
        read_docs(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)


def test_document_refusals_across_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.sgml").write_text("<DOC><DOCNO>x</DOCNO>one</DOC>\n")
    (tmp_path / "a" / "2.sgml").write_text("\n<DOC><DOCNO>x</DOCNO>two</DOC>\n")
    with pytest.raises(DocsFormatError) as err:
        read_docs(tmp_path / "a")
    assert str(err.value) == f"{tmp_path / 'a' / '2.sgml'}:2: doc id x appears twice (first at " \
                             f"{tmp_path / 'a' / '1.sgml'}:1)"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DocsFormatError, match="folder holds no documents files"):
        read_docs(tmp_path / "empty")
    z = tmp_path / "fr940104.0z"
    z.write_bytes(b"\x1f\x9d\x90<DOC>")
    with pytest.raises(DocsFormatError, match=r"compress\(\.Z\)-compressed; decompress it first"):
        read_docs(z)


# -------------------------------------------------------------------------------------------------------- qrels
def test_qrels_whitespace_as_trec_eval_reads_it():
    """Leading and trailing blanks, tabs, runs of spaces and CRLF: the same judgments ir_measures reads."""
    ours = read_qrels(MINI / "qrels.301-303.txt")
    theirs = [(q.query_id, q.doc_id, q.relevance) for q in ir_measures.read_trec_qrels(str(MINI / "qrels.301-303.txt"))]
    assert list(zip(*(ours.column(c).to_pylist() for c in ("query_id", "doc_id", "relevance")), strict=True)) == theirs
    assert len(theirs) == 10 and ("302", "FT911-1", 2) in theirs and ("303", "WSJ880101-0001", 2) in theirs


@pytest.mark.parametrize(("text", "message"), [
    ("1 184 2\n", "expected 4 fields (qid iter docid rel), got 3; a 3-column file (qid docid rel) is not TREC "
                  "qrels: add the iteration column"),
    ("1 0 a 1 x\n", "expected 4 fields (qid iter docid rel), got 5"),
    ("1 0 a high\n", "relevance must be an integer, got 'high' (expected qid iter docid rel)"),
    ("\n# only a comment\n", "no judgments (the file is empty or has only blank/comment lines; expected lines qid "
                             "iter docid rel)"),
    ("query-id\tcorpus-id\tscore\n1\t2\n", "expected 3 fields (query-id<TAB>corpus-id<TAB>score), got 2"),
])
def test_qrels_refusals_say_what_was_expected(tmp_path, text, message):
    path = tmp_path / "qrels"
    path.write_text(text)
    with pytest.raises(QrelsFormatError) as err:
        read_qrels(path)
    assert message in str(err.value)


def test_cranfield_three_columns_refused_four_read():
    with pytest.raises(QrelsFormatError, match=r"cranqrel:1: expected 4 fields .*awk '\{print \$1, 0, \$2, \$3\}'"):
        read_qrels(CRAN / "cranqrel")
    assert read_qrels(CRAN / "cranqrel.trec").column("relevance").to_pylist() == [2, 3, -1, 1, 2, 4, 1, 2, 4]


def test_an_unreadable_line_is_the_error_not_the_cut_it_leaves(tmp_path):
    """A byte-level problem cuts the text before its line; the record it cuts is not reported as unclosed."""
    topics = tmp_path / "t.txt"
    topics.write_bytes(b"<top>\n<num> 1\n<title> caf\xc3\xa9\n</top>\n<top>\n<num> 2\n<title> caf\xe9\n</top>\n")
    with pytest.raises(TopicsFormatError, match=r"t.txt:7: invalid UTF-8"):
        read_topics(topics)
    docs = tmp_path / "d.sgml"
    docs.write_bytes(b"<DOC>\n<DOCNO>a</DOCNO>\n</DOC>\n<DOC>\n<DOCNO>b</DOCNO>\n\x00\n</DOC>\n")
    with pytest.raises(DocsFormatError, match=r"d.sgml:6: binary file"):
        read_docs(docs)
    gz = tmp_path / "d.sgml.gz"
    whole = b"".join(b"<DOC>\n<DOCNO>d%d</DOCNO>\n<TEXT>word %d</TEXT>\n</DOC>\n" % (i, i) for i in range(5000))
    gz.write_bytes(gzip.compress(whole)[:-30])
    with pytest.raises(DocsFormatError, match=r"gzip stream is"):
        read_docs(gz)
