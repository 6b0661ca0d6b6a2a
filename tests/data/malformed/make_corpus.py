"""Regenerate the malformed-file corpus and EXPECTED.tsv (file, reader, line, message fragment).

Run from anywhere: python tests/data/malformed/make_corpus.py. Files are small and committed; this script
documents how each was made and which line is the first offending one.
"""

from __future__ import annotations

import gzip
from pathlib import Path

HERE = Path(__file__).resolve().parent
OK = "1 Q0 d1 1 3.5 tag\n1 Q0 d2 2 2.5 tag\n2 Q0 d1 1 1.0 tag\n"
rows: list[tuple[str, str, int, str]] = []


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # reproducible bytes


def put(name: str, reader: str, line: int, fragment: str, content: bytes | str) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    (HERE / name).write_bytes(data)
    rows.append((name, reader, line, fragment))


# ---- runs
put(
    "run_5_fields.trec",
    "run",
    2,
    "expected 6 fields (qid Q0 docid rank score tag), got 5",
    "1 Q0 d1 1 3.5 t\n1 Q0 d2 2 2.5\n",
)
put("run_7_fields.trec", "run", 4, "got 7", OK + "2 Q0 d 2 1 2.0 tag\n")
put("run_score_text.trec", "run", 2, "score must be a number, got 'high'", "1 Q0 a 1 1 t\n1 Q0 b 2 high t\n")
put("run_score_nan.trec", "run", 3, "score must be a finite number, got 'nan'", OK[:36] + "1 Q0 d3 3 nan tag\n")
put("run_score_inf.trec", "run", 1, "score must be a finite number, got '-inf'", "1 Q0 d1 1 -inf tag\n")
put("run_rank_float.trec", "run", 2, "rank must be an integer, got '2.5'", "1 Q0 a 1 1 t\n1 Q0 b 2.5 1 t\n")
put("run_rank_text.trec", "run", 1, "rank must be an integer, got 'first'", "1 Q0 a first 1 t\n")
put("run_duplicate.trec", "run", 4, "doc_id d1 appears twice for query 1 (first at line 1)", OK + "1 Q0 d1 9 0.5 tag\n")
put(
    "run_duplicate_after_comment.trec", "run", 5, "first at line 3", "# c\n\n1 Q0 x 1 1 t\n2 Q0 x 1 1 t\n1 Q0 x 2 0 t\n"
)
put("run_empty.trec", "run", 1, "no run lines", "")
put("run_only_comments.trec", "run", 1, "no run lines", "# nothing\n\n# here\n")
put("run_binary_nul.trec", "run", 2, "binary file (NUL byte)", "1 Q0 a 1 1 t\n1 Q0 b\x00 2 1 t\n")
put("run_invalid_utf8.trec", "run", 3, "invalid UTF-8", OK[:36].encode() + b"1 Q0 caf\xe9 3 1.0 tag\n")
put("run_utf16.trec", "run", 1, "UTF-16", OK.encode("utf-16"))
put("run_truncated.trec.gz", "run", 1, "gzip stream is truncated", _gz((OK * 2000).encode())[:40])
put("run_truncated_midway.trec.gz", "run", 0, "gzip stream is truncated", b"")  # placeholder, rewritten below
put("run_huge_line.trec", "run", 2, "longer than 1048576 bytes", "1 Q0 a 1 1 t\n1 Q0 " + "x" * (1 << 20) + " 2 1 t\n")
put("run_tab_5_fields.trec", "run", 3, "got 5", "1\tQ0\ta\t1\t 1.0\tt\n1\tQ0\tb\t2\t 0.5\tt\n2\tQ0\tc\t1\t 1.0\n")
put("run_first_error_wins.trec", "run", 2, "score must be a number", "1 Q0 a 1 1 t\n1 Q0 b 2 x t\n1 Q0 c 3\n")
put("run_metadata_unclosed.trec", "run", 2, "without a matching", "# hi\n# ir_metadata.start\n# tag: x\n" + OK)
put("run_crlf_nan.trec", "run", 2, "finite number", "1 Q0 a 1 1 t\r\n1 Q0 b 2 NaN t\r\n")
put("run_bzip2.trec.bz2", "run", 1, "bzip2-compressed", b"BZh91AY&SY" + b"\x00" * 20)
put("run_missing_docid_gap.trec", "run", 2, "got 5", "1 Q0 a 1 1 t\n1 Q0  2 1 t\n")
put("run_gz_nan.trec.gz", "run", 3, "finite number", _gz((OK[:36] + "1 Q0 d3 3 inf tag\n").encode()))

# numbers as trec_eval reads them (atof: the longest numeric prefix), refused unless that prefix is the field
put("run_score_underscore.trec", "run", 2, "score must be a number, got '1_000' (trec_eval would read only '1')",
    "1 Q0 a 1 2 t\n1 Q0 b 2 1_000 t\n")
put("run_score_hex_junk.trec", "run", 1, "score must be a number, got '0x' (trec_eval would read only '0')",
    "1 Q0 a 1 0x t\n")
put("run_score_exponent_cut.trec", "run", 3, "got '2.5e' (trec_eval would read only '2.5')",
    "1 Q0 a 1 3 t\n1 Q0 b 2 0x1p1 t\n1 Q0 c 3 2.5e t\n")
put("run_score_unicode_digit.trec", "run", 1, "score must be a number, got '\u0661' (trec_eval would read it as 0)",
    "1 Q0 a 1 \u0661 t\n")
put("run_rank_underscore.trec", "run", 2, "rank must be an integer, got '1_0'", "1 Q0 a 1 2 t\n1 Q0 b 1_0 1 t\n")
put("run_rank_2p63.trec", "run", 1, "rank is out of range (|rank| must be below 2^53), got '9223372036854775808'",
    "1 Q0 a 9223372036854775808 1 t\n")
put("run_qid_all.trec", "run", 3, "query id 'all' is reserved: trec_eval reports the mean over all queries",
    OK[:36] + "all Q0 d1 1 1.0 tag\n")
_BOMB = "".join(f"# {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6))
put("run_metadata_alias_bomb.trec", "run", 7, "ir_metadata header: aliases expand this value to more than",
    "# ir_metadata.start\n# a: &a [x, x, x, x, x, x, x, x, x, x]\n" + _BOMB + "# ir_metadata.end\n" + OK)
put("run_metadata_recursive_alias.trec", "run", 2, "ir_metadata header: an alias refers to a value that contains it",
    "# ir_metadata.start\n# a: &a [1, *a]\n# ir_metadata.end\n" + OK)

# ---- qrels
put("qrels_grade_underscore.txt", "qrels", 2, "relevance must be an integer, got '1_0' (trec_eval would read only '1')",
    "1 0 a 1\n1 0 b 1_0\n")
put("qrels_grade_hex.txt", "qrels", 1, "relevance must be an integer, got '0x1' (trec_eval would read only '0')",
    "1 0 a 0x1\n")
put("qrels_grade_huge.txt", "qrels", 2, "relevance is out of range (64-bit integers), got '9223372036854775808'",
    "1 0 a -9223372036854775808\n1 0 b 9223372036854775808\n")
put("qrels_qid_all.txt", "qrels", 2, "query id 'all' is reserved", "1 0 a 1\nall 0 b 1\n")
put("qrels_beir_grade_plus_underscore.tsv", "qrels", 3, "relevance must be an integer, got '2_0'",
    "query-id\tcorpus-id\tscore\n1\ta\t+1\n1\tb\t2_0\n")
put("qrels_3_fields.txt", "qrels", 2, "expected 4 fields (qid iter docid rel), got 3", "1 0 a 1\n1 0 b\n")
put("qrels_rel_text.txt", "qrels", 3, "relevance must be an integer, got 'yes'", "# c\n1 0 a 1\n1 0 b yes\n")
put("qrels_rel_float.txt", "qrels", 1, "relevance must be an integer, got '1.5'", "1 0 a 1.5\n")
put(
    "qrels_conflict.txt",
    "qrels",
    4,
    "doc_id a judged twice for query 1 with different grades (1 at line 1, 2 here)",
    "1 0 a 1\n1 0 b 0\n1 0 a 1\n1 0 a 2\n",
)
put("qrels_empty.txt", "qrels", 1, "no judgments", "\n\n")
put("qrels_beir_bad.tsv", "qrels", 3, "expected 3 fields", "query-id\tcorpus-id\tscore\n1\t2\t1\n1\t3\n")
put("qrels_beir_score.tsv", "qrels", 2, "relevance must be an integer", "query-id\tcorpus-id\tscore\n1\t2\tx\n")
put("qrels_nul.txt", "qrels", 2, "binary file", "1 0 a 1\n1 0 \x00 1\n")
put("qrels_truncated.txt.gz", "qrels", 1, "gzip stream is truncated", _gz(b"1 0 a 1\n" * 5000)[:30])

# ---- topics
put("topics_no_tab.tsv", "topics", 2, "expected 2 tab-separated fields", "1\thello\n2 world\n")
put("topics_duplicate.tsv", "topics", 3, "query id 1 appears twice (first at line 1)", "1\ta\n2\tb\n1\tc\n")
put("topics_bad_json.jsonl", "topics", 2, "invalid JSON", '{"_id": "1", "text": "a"}\n{"_id": "2", "text": }\n')
put(
    "topics_missing_text.jsonl",
    "topics",
    3,
    'missing "text"',
    '{"_id": "1", "text": "a"}\n\n{"_id": "2", "title": "b"}\n',
)
put("topics_json_array.jsonl", "topics", 2, "expected a JSON object, got array", '{"_id": "1", "text": "a"}\n[1, 2]\n')
put(
    "topics_trec_unclosed.txt",
    "topics",
    6,
    "<top> without </top>",
    "<top>\n<num> Number: 301\n<title> crime\n</top>\n\n<top>\n<num> Number: 302\n<title> polio\n",
)
put("topics_trec_no_num.txt", "topics", 1, "topic without <num>", "<top>\n<title> crime\n</top>\n")
put("topics_empty.tsv", "topics", 1, "no topics", "")
put("topics_latin1.tsv", "topics", 2, "invalid UTF-8", "1\tcafe\n2\tcaf\xe9\n".encode("latin-1"))

put("topics_qid_all.tsv", "topics", 2, "query id 'all' is reserved", "1\ta\nall\tb\n")
put("topics_trec_qid_all.txt", "topics", 5, "query id 'all' is reserved",
    "<top>\n<num> Number: 301\n<title> crime\n</top>\n<top>\n<num> Number: all\n<title> polio\n</top>\n")
put("topics_nan_id.jsonl", "topics", 2, '"_id" must be a string or an integer, got double NaN',
    '{"_id": "1", "text": "a"}\n{"_id": NaN, "text": "b"}\n')
put("topics_empty_id.jsonl", "topics", 1, 'empty "_id"', '{"_id": "", "text": "a"}\n')
put("topics_object_id.jsonl", "topics", 1, '"_id" must be a string or an integer, got object {"q":1}',
    '{"_id": {"q":1}, "text": "a"}\n')
put("topics_float_id.jsonl", "topics", 1, '"_id" must be a string or an integer, got double 1.5',
    '{"_id": 1.5, "text": "a"}\n')
put("topics_spaced_id.jsonl", "topics", 2, "\"_id\" '3 01' contains whitespace",
    '{"_id": 1, "text": "a"}\n{"_id": "3 01", "text": "b"}\n')
put("topics_nan_text.jsonl", "topics", 1, '"text" must be a string, got double NaN', '{"_id": "1", "text": NaN}\n')

# ---- docs
put(
    "docs_bad_json.jsonl",
    "docs",
    2,
    "invalid JSON",
    '{"_id": "d1", "title": "", "text": "a"}\n{"_id": "d2", "text": "b"\n',
)
put("docs_missing_id.jsonl", "docs", 2, 'missing "_id"', '{"_id": "d1", "text": "a"}\n{"title": "t", "text": "b"}\n')
put(
    "docs_duplicate.jsonl",
    "docs",
    3,
    "doc id d1 appears twice (first at line 1)",
    '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": "d1", "text": "c"}\n',
)
put("docs_duplicate.tsv", "docs", 3, "doc id 7 appears twice (first at line 2)", "6\ta\n7\tb\n7\tc\n")
put("docs_no_tab.tsv", "docs", 2, "expected 2 tab-separated fields", "1\ttext one\n2 text two\n")
put(
    "docs_bad_json.jsonl.gz",
    "docs",
    3,
    "invalid JSON",
    _gz(b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": "b"}\n{"_id": 3 "text": "c"}\n'),
)
put("docs_empty.jsonl", "docs", 1, "no documents", "\n")
put("docs_object_id.jsonl", "docs", 2, '"_id" must be a string or an integer, got array [1,2]',
    '{"_id": "d1", "text": "a"}\n{"_id": [1,2], "text": "b"}\n')

# A gzip stream cut in the middle of line 101 of a run: line count is known exactly from the plain text.
plain = "".join(f"1 Q0 d{i} {i} {1000 - i}.5 tag\n" for i in range(1, 301)).encode()
comp = _gz(plain)
for cut in range(len(comp) - 1, 0, -1):
    import zlib

    dec = zlib.decompressobj(zlib.MAX_WBITS | 16)
    got = dec.decompress(comp[:cut])
    if got.count(b"\n") <= 150:
        break
(HERE / "run_truncated_midway.trec.gz").write_bytes(comp[:cut])
rows = [r if r[0] != "run_truncated_midway.trec.gz" else (r[0], r[1], got.count(b"\n") + 1, r[3]) for r in rows]

with open(HERE / "EXPECTED.tsv", "w") as fh:
    fh.write("file\treader\tline\tmessage\n")
    for name, reader, line, fragment in rows:
        fh.write(f"{name}\t{reader}\t{line}\t{fragment}\n")
print(len(rows), "files")
