"""Issue 7: every malformed input, fed through the real CLI, is refused with one line naming file and line,
and leaves a store that already holds a collection, runs and scores exactly as it was.

Inputs: the readers' corpus in tests/data/malformed/ (EXPECTED.tsv says the first bad line of each file) plus
the cases below (encodings, compression, binary garbage, huge lines, missing files, manifests). Run files are
fed as `ingest --name bm25 --replace` (a refused file must not disturb the run it would have replaced), qrels
as `collection add base --replace`, topics and documents as a new collection, manifests as `build`.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import snapshot
from test_reliability_support import run_cli, run_lines

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "malformed"
OK_RUN = "101 Q0 d1 1 3.5 t\n101 Q0 d2 2 2.5 t\n102 Q0 d1 1 1.0 t\n"
OK_QRELS = "101 0 d1 1\n101 0 d2 0\n102 0 d1 2\n"


@dataclass(frozen=True)
class Case:
    name: str  # file name (its suffix matters: .gz)
    target: str  # run | qrels | topics | docs | manifest
    line: int | None  # 1-based line the error must point at; None: the message names the file only
    fragment: str  # part of the message
    content: bytes | str | None = None  # None: an existing corpus file / a path that does not exist
    where: str | None = None  # for manifests: the file the error must name (default: the manifest)


def _gz(data: bytes | str) -> bytes:
    return gzip.compress(data.encode() if isinstance(data, str) else data, mtime=0)


def _corpus_cases() -> list[Case]:
    rows = (CORPUS / "EXPECTED.tsv").read_text().splitlines()[1:]
    return [Case(name, reader, int(line), fragment) for name, reader, line, fragment in (r.split("\t") for r in rows)]


_HUGE = "x" * ((1 << 20) + 10)
# 20 MiB of one line in ~40 KB: past the ratio limit's 16 MiB floor at ~500x (the limit is 100x); no line number
_BOMB_LINES = {"run": "101 Q0 d1 1 1.0 t\n", "qrels": "101 0 d1 1\n", "topics": "101\ttext\n",
               "docs": '{"_id": "d1", "text": "a"}\n'}


def _laughs(levels: int) -> list[str]:
    """'&a [x, ...]', '&b [*a, ...]', ...: YAML values whose expansion grows tenfold per level."""
    out = ["&a [" + ", ".join(["x"] * 10) + "]"]
    for i in range(1, levels):
        out.append(f"&{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]")
    return out


def _bomb(target: str) -> bytes:
    line = _BOMB_LINES[target].encode()
    return gzip.compress(line * ((20 << 20) // len(line)), 9, mtime=0)


_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4

EXTRA = [
    # ---- runs: encodings and byte order marks, binary garbage, compression
    Case("utf32.trec", "run", 1, "byte order mark", OK_RUN.encode("utf-32")),
    Case("utf16be.trec", "run", 1, "UTF-16", b"\xfe\xff" + OK_RUN.encode("utf-16-be")),
    Case("bom_then_latin1.trec", "run", 2, "invalid UTF-8", b"\xef\xbb\xbf" + "101 Q0 a 1 1 t\n101 Q0 \xe9 2 0 t\n"
         .encode("latin-1")),
    Case("png.trec", "run", 1, "invalid UTF-8", _PNG),
    Case("nul_only.trec", "run", 1, "binary file", b"\x00" * 64),
    Case("zip.trec", "run", 1, "zip-compressed", b"PK\x03\x04" + b"\x00" * 40),
    Case("xz.trec", "run", 1, "xz-compressed", b"\xfd7zXZ\x00" + b"\x00" * 40),
    Case("zstd.trec.zst", "run", 1, "zstd-compressed", b"\x28\xb5\x2f\xfd" + b"\x00" * 40),
    Case("gzip_garbage.trec.gz", "run", 1, "gzip stream is corrupt", b"\x1f\x8b\x08\x00" + b"\xff" * 64),
    Case("gzip_empty.trec.gz", "run", 1, "no run lines", _gz(b"")),
    Case("huge_line.trec.gz", "run", 3, "longer than 1048576 bytes", _gz(OK_RUN[:36] + f"101 Q0 {_HUGE} 3 1 t\n")),
    # ---- runs: fields and values
    Case("one_field.trec", "run", 1, "expected 6 fields (qid Q0 docid rank score tag), got 1", "garbage\n"),
    Case("whitespace_only.trec", "run", 1, "no run lines", "   \n\t\n \r\n"),
    Case("score_overflow.trec", "run", 2, "score must be a finite number", "101 Q0 a 1 1 t\n101 Q0 b 2 1e999 t\n"),
    Case("score_infinity.trec", "run", 1, "finite number, got 'Infinity'", "101 Q0 a 1 Infinity t\n"),
    Case("score_comma.trec", "run", 1, "score must be a number, got '1,5'", "101 Q0 a 1 1,5 t\n"),
    Case("rank_huge.trec", "run", 1, "rank is out of range", "101 Q0 a 1e300 1 t\n"),
    Case("rank_empty_after_tab.trec", "run", 2, "got 5", "101\tQ0\ta\t1\t1\tt\n101\tQ0\tb\t\t1\tt\n"),
    Case("dup_crlf.trec", "run", 3, "doc_id d1 appears twice for query 101 (first at line 1)",
         "101 Q0 d1 1 2 t\r\n101 Q0 d2 2 1 t\r\n101 Q0 d1 3 0 t\r\n"),
    Case("dup_gz.trec.gz", "run", 4, "appears twice", _gz(OK_RUN + "101 Q0 d2 3 0.5 t\n")),
    Case("metadata_unclosed.trec.gz", "run", 1, "without a matching", _gz("# ir_metadata.start\n# a: 1\n" + OK_RUN)),
    Case("missing.trec", "run", None, "no such file"),
    Case("bomb.trec.gz", "run", None, "decompresses to more than 100 times its size, the limit (a gzip bomb? "
         "set WORKBENCH_MAX_COMPRESSION_RATIO to raise it)", _bomb("run")),
    # ---- qrels
    Case("qrels_utf16.txt", "qrels", 1, "UTF-16", OK_QRELS.encode("utf-16")),
    Case("qrels_nan.txt", "qrels", 2, "relevance must be an integer, got 'nan'", "101 0 d1 1\n101 0 d2 nan\n"),
    Case("qrels_5_fields.txt", "qrels", 3, "expected 4 fields", OK_QRELS[:24] + "102 0 d1 2 extra\n"),
    Case("qrels_huge_line.txt", "qrels", 2, "longer than 1048576 bytes", f"101 0 d1 1\n101 0 {_HUGE} 1\n"),
    Case("qrels_png.txt", "qrels", 1, "invalid UTF-8", _PNG),
    Case("qrels_gz_corrupt.txt.gz", "qrels", 1, "gzip stream is corrupt", b"\x1f\x8b\x08\x00" + b"\xff" * 64),
    Case("qrels_only_comments.txt", "qrels", 1, "no judgments", "# nothing judged yet\n"),
    Case("qrels_missing.txt", "qrels", None, "no such file"),
    Case("qrels_bomb.txt.gz", "qrels", None, "decompresses to more than 100 times its size", _bomb("qrels")),
    # ---- topics
    Case("topics_utf16.tsv", "topics", 1, "UTF-16", "101\thello\n".encode("utf-16")),
    Case("topics_truncated.tsv.gz", "topics", 1, "gzip stream is truncated",
         _gz("".join(f"{i}\tquery {i}\n" for i in range(3000)))[:40]),
    Case("topics_nul.tsv", "topics", 2, "binary file", "101\thello\n102\the\x00llo\n"),
    Case("topics_huge_line.tsv", "topics", 1, "longer than 1048576 bytes", f"101\t{_HUGE}\n"),
    Case("topics_missing.tsv", "topics", None, "no such file"),
    Case("topics_bomb.tsv.gz", "topics", None, "decompresses to more than 100 times its size", _bomb("topics")),
    # ---- documents
    Case("docs_truncated.jsonl.gz", "docs", 1, "gzip stream is truncated",
         _gz("".join(json.dumps({"_id": f"d{i}", "text": "x" * 50}) + "\n" for i in range(3000)))[:60]),
    Case("docs_nul.tsv", "docs", 1, "binary file", "d1\tte\x00xt\n"),
    Case("docs_huge_line.jsonl", "docs", 2, "longer than 1048576 bytes",
         '{"_id": "d1", "text": "a"}\n' + json.dumps({"_id": "d2", "text": _HUGE}) + "\n"),
    Case("docs_empty_id.jsonl", "docs", 2, 'empty "_id"', '{"_id": "d1", "text": "a"}\n{"_id": "", "text": "b"}\n'),
    Case("docs_utf16.tsv", "docs", 1, "UTF-16", "d1\ttext\n".encode("utf-16")),
    Case("docs_missing.jsonl", "docs", None, "no such file"),
    Case("docs_bomb.jsonl.gz", "docs", None, "decompresses to more than 100 times its size", _bomb("docs")),
]

# Manifests live next to copies of the base inputs (qrels.txt, topics.tsv, docs.tsv, bm25.trec): the `base`
# collection below has exactly the stored content, so a valid manifest would change nothing.
_COLL = "collections:\n  base:\n    qrels: qrels.txt\n    topics: topics.tsv\n    docs: docs.tsv\n"
MANIFESTS = [
    Case("m_unknown_top.yaml", "manifest", 7, "unknown key 'colections'", "version: 1\n" + _COLL + "colections: {}\n"),
    Case("m_unknown_coll_key.yaml", "manifest", 6, "unknown key 'qrel'", _COLL + "    qrel: qrels.txt\n"),
    Case("m_unknown_run_key.yaml", "manifest", 8, "unknown key 'kinds'",
         _COLL + "runs:\n  - file: bm25.trec\n    kinds: sparse\n    collection: base\n"),
    Case("m_missing_qrels.yaml", "manifest", 3, "qrels file 'nope.txt' does not exist",
         "collections:\n  base:\n    qrels: nope.txt\n"),
    Case("m_missing_run.yaml", "manifest", 7, "file 'runs/gone.trec' does not exist",
         _COLL + "runs:\n  - file: runs/gone.trec\n    collection: base\n"),
    Case("m_cycle.yaml", "manifest", 9, "pipelines form a cycle",
         _COLL + "runs:\n  - {file: bm25.trec, collection: base}\npipelines:\n"
         "  - {name: a, collection: base, fuse: [bm25, b]}\n  - {name: b, collection: base, fuse: [bm25, a]}\n"),
    Case("m_invalid_yaml.yaml", "manifest", 3, "invalid YAML", "collections:\n  base: {qrels: qrels.txt\n  x: [\n"),
    Case("m_tabs.yaml", "manifest", 2, "invalid YAML", "collections:\n\tbase:\n"),
    Case("m_python_object.yaml", "manifest", 1, "invalid YAML",
         "!!python/object/apply:os.system ['touch PWNED']\n"),
    Case("m_list.yaml", "manifest", 1, "expected a mapping", "- collections\n- runs\n"),
    Case("m_empty.yaml", "manifest", 1, "expected a mapping", ""),
    Case("m_undeclared_collection.yaml", "manifest", 8, "run collection 'dl19' is not declared",
         _COLL + "runs:\n  - file: bm25.trec\n    collection: dl19\n"),
    Case("m_bad_kind.yaml", "manifest", 9, "unknown kind 'magic'",
         _COLL + "runs:\n  - file: bm25.trec\n    collection: base\n    kind: magic\n"),
    Case("m_bad_depth.yaml", "manifest", 9, "depth must be a positive integer",
         _COLL + "runs:\n  - file: bm25.trec\n    collection: base\n    depth: -3\n"),
    Case("m_bad_name.yaml", "manifest", 7, "invalid run name '../../escape'",
         _COLL + "runs:\n  - file: bm25.trec\n    collection: base\n    name: ../../escape\n"),
    Case("m_unknown_parent.yaml", "manifest", 7, "names parent 'bm99', which nothing declares",
         _COLL + "runs:\n  - {file: bm25.trec, collection: base, name: rr, parent: bm99}\n"),
    # YAML-level checks: bombs, duplicate and non-scalar keys, the version, scalar types
    # nine levels of ten aliases; the sixth (line 12) passes a million nodes
    Case("m_alias_bomb.yaml", "manifest", 12, "aliases expand this value to more than 1,000,000 nodes",
         _COLL + "runs:\n" + "".join(f"  - {{file: bm25.trec, collection: base, name: {v}}}\n" for v in _laughs(9))),
    Case("m_recursive_alias.yaml", "manifest", 6, "an alias refers to a value that contains it",
         _COLL + "    description: &d [*d]\n"),
    Case("m_deep.yaml", "manifest", 1, "nested too deeply", "collections: " + "[" * 5000 + "]" * 5000 + "\n"),
    Case("m_duplicate_top.yaml", "manifest", 6, "duplicate key 'collections' (first at line 1)",
         _COLL + "collections: {}\n"),
    Case("m_duplicate_nested.yaml", "manifest", 6, "duplicate key 'qrels' (first at line 3)",
         _COLL + "    qrels: topics.tsv\n"),
    Case("m_duplicate_flow.yaml", "manifest", 7, "duplicate key 'depth' (first at line 7)",
         _COLL + "runs:\n  - {file: bm25.trec, collection: base, depth: 5, depth: 10}\n"),
    Case("m_list_key.yaml", "manifest", 6, "a key must be a plain value, not a list", _COLL + "? [a, b]\n: 1\n"),
    Case("m_mapping_key.yaml", "manifest", 6, "a key must be a plain value, not a mapping",
         _COLL + "    ? {a: 1}\n    : x\n"),
    Case("m_version_99.yaml", "manifest", 1, "version must be 1 (the only manifest version), got 99",
         "version: 99\n" + _COLL),
    Case("m_version_bool.yaml", "manifest", 1, "version must be 1 (the only manifest version), got a boolean (true)",
         "version: true\n" + _COLL),
    Case("m_depth_bool.yaml", "manifest", 9, "depth must be a positive integer, got a boolean (true)",
         _COLL + "runs:\n  - file: bm25.trec\n    collection: base\n    depth: true\n"),
    Case("m_depth_float.yaml", "manifest", 7, "depth must be a positive integer, got 2.5",
         _COLL + "runs:\n  - {file: bm25.trec, collection: base, depth: 2.5}\n"),
    Case("m_name_number.yaml", "manifest", 7, "name must be a string (quote it), got 2019",
         _COLL + "runs:\n  - {file: bm25.trec, collection: base, name: 2019}\n"),
    Case("m_kind_list.yaml", "manifest", 7, "kind must be a string, got a list",
         _COLL + "runs:\n  - {file: bm25.trec, collection: base, kind: [sparse]}\n"),
    Case("m_collection_list.yaml", "manifest", 7, "collection must be a string, got a list",
         _COLL + "runs:\n  - {file: bm25.trec, collection: [base]}\n"),
    Case("m_description_map.yaml", "manifest", 6, "description must be a string, got a mapping",
         _COLL + "    description: {a: 1}\n"),
    Case("m_fuse_number.yaml", "manifest", 9, "fuse names runs: each must be a string, got 7",
         _COLL + "runs:\n  - {file: bm25.trec, collection: base}\npipelines:\n"
         "  - {name: f, collection: base, fuse: [bm25, 7]}\n"),
    Case("m_qrels_directory.yaml", "manifest", 3, "qrels file '.' is a directory",
         "collections:\n  base:\n    qrels: .\n"),
    Case("m_utf16.yaml", "manifest", None, "not UTF-8", _COLL.encode("utf-16")),
    Case("m_binary.yaml", "manifest", None, "not UTF-8", _PNG),
    Case("m_missing.yaml", "manifest", None, "no such file"),
    # the manifest is fine, the run file it declares is not: the error points into the run file
    Case("m_bad_run_file.yaml", "manifest", 3, "score must be a finite number, got 'nan'",
         _COLL + "runs:\n  - {file: bad.trec, collection: base, name: bm25}\n", where="bad.trec"),
]

CASES = _corpus_cases() + EXTRA + MANIFESTS


def test_corpus_size_and_spread():
    by_target: dict[str, int] = {}
    for case in CASES:
        by_target[case.target] = by_target.get(case.target, 0) + 1
    assert len(CASES) >= 40
    assert min(by_target.values()) >= 8 and set(by_target) == {"run", "qrels", "topics", "docs", "manifest"}


def _materialise(case: Case, folder: Path, inputs: dict[str, Path]) -> Path:
    if case.content is None:
        existing = CORPUS / case.name
        return existing if existing.exists() else folder / case.name
    if case.target == "manifest":
        for key in ("qrels", "topics", "docs", "bm25"):
            shutil.copyfile(inputs[key], folder / inputs[key].name)
        (folder / "bad.trec").write_bytes((CORPUS / "run_score_nan.trec").read_bytes())
    path = folder / case.name
    path.write_bytes(case.content.encode() if isinstance(case.content, str) else case.content)
    return path


def _command(case: Case, path: Path, inputs: dict[str, Path]) -> list:
    if case.target == "run":
        return ["ingest", "-c", "base", path, "--name", "bm25", "--replace"]
    if case.target == "qrels":
        return ["collection", "add", "base", "--replace", "--qrels", path, "--topics", inputs["topics"]]
    if case.target == "topics":
        return ["collection", "add", "other", "--qrels", inputs["qrels"], "--topics", path]
    if case.target == "docs":
        return ["collection", "add", "other", "--qrels", inputs["qrels"], "--docs", path]
    return ["build", "--manifest", path, "--no-score"]


def _check_message(err: str, case: Case, path: Path) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in err
    named = str(path.parent / case.where) if case.where else str(path)
    where = f"{named}:{case.line}: " if case.line is not None else f"{named}: "
    assert where in line, f"{where!r} not in {line!r}"
    assert case.fragment in line, f"{case.fragment!r} not in {line!r}"
    return line


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.target}-{c.name}")
def test_malformed_input_is_refused_and_store_unchanged(case, base, cli, db, tmp_path):
    base_db, inputs = base
    shutil.copyfile(base_db, db)
    before = snapshot(db)
    before_bytes = db.read_bytes()
    path = _materialise(case, tmp_path, inputs)
    res = cli(*_command(case, path, inputs))
    assert res.code == 2, res.err
    _check_message(res.err, case, path)
    assert res.out == ""
    assert snapshot(db) == before
    if case.target != "manifest":  # refused before any write: the file itself is untouched
        assert db.read_bytes() == before_bytes
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_console_script_refuses_without_traceback(base, tmp_path):
    """The same through the installed `workbench` executable (a separate process, real stderr)."""
    base_db, _ = base
    db = tmp_path / "s.duckdb"
    shutil.copyfile(base_db, db)
    before = snapshot(db)
    for name in ("run_score_nan.trec", "run_truncated_midway.trec.gz", "run_binary_nul.trec"):
        res = run_cli(db, "ingest", "-c", "base", CORPUS / name)
        assert res.returncode == 2
        assert res.stderr.strip().splitlines() == [res.stderr.strip()], res.stderr
        assert res.stderr.startswith(f"error: {CORPUS / name}:") and "Traceback" not in res.stderr
    # markup-like content is quoted literally, not interpreted (it used to crash the CLI with a traceback)
    odd = tmp_path / "odd.trec"
    odd.write_text("101 Q0 a 1 [/x] t\n")
    res = run_cli(db, "ingest", "-c", "base", odd)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{odd}:1: score must be a number, got '[/x]'" in res.stderr
    assert snapshot(db) == before


def test_keep_going_reports_each_refused_file_and_stores_the_good_ones(base, cli, db, tmp_path):
    base_db, _ = base
    shutil.copyfile(base_db, db)
    good = tmp_path / "good.trec"
    good.write_text(run_lines(["101", "102"], 5, "good", 2))
    bad1, bad2 = CORPUS / "run_score_nan.trec", CORPUS / "run_duplicate.trec"
    res = cli("ingest", "-c", "base", bad1, good, bad2, "--keep-going")
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert [ln for ln in lines if ln.startswith("refused")] == [
        f"refused {bad1}:3: score must be a finite number, got 'nan'",
        f"refused {bad2}:4: doc_id d1 appears twice for query 1 (first at line 1); trec_eval aborts on duplicates",
    ]
    assert lines[-1].startswith("error: 2 of 3 files were refused; first: ")
    assert [r["name"] for r in cli("runs", "list", "-c", "base", "--json").json()] == ["bm25", "dense", "good"]


# ------------------------------------------------------------------------------------- odd but valid


def _variants(text: str) -> dict[str, bytes]:
    raw = text.encode()
    lines = text.splitlines(keepends=True)
    header = "# ir_metadata.start\n# tag: bm25\n# method:\n#   name: bm25\n#   k1: 0.9\n# ir_metadata.end\n"
    return {
        "crlf.trec": raw.replace(b"\n", b"\r\n"),
        "no_final_newline.trec": raw.rstrip(b"\n"),
        "comments_blanks.trec": ("# produced by hand\n\n" + "".join(ln + ("\n" if i % 7 == 3 else "")
                                                                    for i, ln in enumerate(lines))).encode(),
        "tabs.trec": raw.replace(b" ", b"\t"),
        "padded.trec": b"".join(b"  " + ln.replace(b" ", b"   ") + b" " for ln in raw.splitlines(keepends=True)),
        "gzip.trec.gz": _gz(raw),
        "multi_member.trec.gz": _gz("".join(lines[:17]).encode()) + _gz("".join(lines[17:]).encode()),
        "bom.trec": b"\xef\xbb\xbf" + raw,
        "ir_metadata.trec": header.encode() + raw,
        "everything.trec.gz": _gz(b"\xef\xbb\xbf" + (header + "# c\n" + text.replace(" ", "\t")).encode()
                                  .replace(b"\n", b"\r\n").rstrip(b"\r\n")),
    }


def test_odd_but_valid_runs_are_accepted_with_identical_rows(base, cli, db, tmp_path):
    from workbench.store import Store, get_run_rows

    base_db, inputs = base
    shutil.copyfile(base_db, db)
    plain = inputs["bm25"].read_text()
    expected = sorted(get_run_rows(Store(db), "base", "bm25").to_pylist(), key=lambda r: (r["query_id"], r["doc_id"]))
    for fname, data in _variants(plain).items():
        path = tmp_path / fname
        path.write_bytes(data)
        name = "v-" + fname.split(".")[0]
        res = cli("ingest", "-c", "base", path, "--name", name, "--json")
        assert res.code == 0, (fname, res.err)
        rows = get_run_rows(Store(db), "base", name).to_pylist()
        assert sorted(rows, key=lambda r: (r["query_id"], r["doc_id"])) == expected, fname
        shown = cli("runs", "show", name, "-c", "base", "--json").json()
        assert shown["n_rows"] == len(expected)
        if "metadata" in fname or "everything" in fname:
            assert "k1: 0.9" in shown["metadata_header"]


def test_odd_but_valid_collection_files_give_the_same_content_hashes(base, cli, db, tmp_path):
    base_db, inputs = base
    shutil.copyfile(base_db, db)
    ref = cli("collection", "show", "base", "--json").json()
    qrels = inputs["qrels"].read_bytes()
    topics = inputs["topics"].read_bytes()
    docs = inputs["docs"].read_bytes()
    qids = sorted({ln.split()[0] for ln in topics.decode().splitlines()})
    variants = {
        "crlf": (qrels.replace(b"\n", b"\r\n"), topics.replace(b"\n", b"\r\n"), docs.replace(b"\n", b"\r\n")),
        "no_final_newline": (qrels.rstrip(b"\n"), topics.rstrip(b"\n"), docs.rstrip(b"\n")),
        "gzip": (_gz(qrels), _gz(topics), _gz(docs)),
        "comments_tabs_bom": (b"\xef\xbb\xbf# judged by hand\n" + qrels.replace(b" ", b"\t"), b"\xef\xbb\xbf" + topics,
                              b"\xef\xbb\xbf" + docs),
        "beir": (b"query-id\tcorpus-id\tscore\n" + b"".join(
                     b"%s\t%s\t%s\n" % tuple(ln.split()[i] for i in (0, 2, 3)) for ln in qrels.splitlines()),
                 "".join(json.dumps({"_id": q, "text": f"topic number {q}"}) + "\n" for q in qids).encode(),
                 b"".join(b'{"_id": "%s", "title": "", "text": "%s"}\n' % tuple(ln.split(b"\t"))
                          for ln in docs.splitlines())),
    }
    for i, (label, (q, t, d)) in enumerate(variants.items()):
        sfx = ".gz" if label == "gzip" else ""
        qp, tp, dp = (tmp_path / f"{label}.{kind}{sfx}" for kind in ("qrels", "topics.tsv", "docs"))
        if label == "beir":
            qp, tp, dp = tmp_path / "beir-qrels.tsv", tmp_path / "queries.jsonl", tmp_path / "corpus.jsonl"
        qp.write_bytes(q)
        tp.write_bytes(t)
        dp.write_bytes(d)
        res = cli("collection", "add", f"c{i}", "--qrels", qp, "--topics", tp, "--docs", dp, "--json")
        assert res.code == 0, (label, res.err)
        got = res.json()
        assert (got["qrels_hash"], got["topics_hash"], got["docs_hash"]) == (
            ref["qrels_hash"], ref["topics_hash"], ref["docs_hash"]), label


def test_unknown_qids_are_a_stored_warning_not_an_error(base, cli, db, tmp_path):
    base_db, _ = base
    shutil.copyfile(base_db, db)
    path = tmp_path / "extra.trec"
    path.write_text(run_lines(["101", "102", "103", "104", "105", "9001", "9002"], 5, "x", 3))
    res = cli("ingest", "-c", "base", path, "--json")
    assert res.code == 0, res.err
    warnings = res.json()[0]["warnings"]
    assert any(re.search(r"2 run queries have no judgments and are not scored \(e\.g\. 9001, 9002\)", w)
               for w in warnings), warnings
    shown = cli("runs", "show", "extra", "-c", "base", "--json").json()
    assert shown["warnings"] == warnings
    text = cli("runs", "show", "extra", "-c", "base").out
    assert "warnings (1):" in text and "2 run queries have no judgments" in text
    # and scoring ignores them (trec_eval semantics): 5 judged queries scored
    ev = cli("evaluate", "-c", "base", "-m", "nDCG@10", "--runs", "extra", "--per-query").out
    assert "9001" not in ev and "101" in ev


def test_a_batch_stores_the_files_before_a_refused_one_as_one_at_a_time_would(base, cli, db, tmp_path):
    """Small files share one transaction; when the store refuses one of them (a name taken by other bytes), the
    batch is stored file by file instead: the ones before it are kept with their scores, it and the rest are not
    (or are, with --keep-going: those used to be dropped unreported), and the run it collided with is untouched."""
    from workbench.store import Store, get_run_rows

    base_db, _ = base
    shutil.copyfile(base_db, db)
    before = get_run_rows(Store(db), "base", "bm25")
    (tmp_path / "x").mkdir()
    files = {name: tmp_path / f"{name}.trec" for name in ("first", "bm25", "last")}
    for i, (name, path) in enumerate(files.items()):
        path.write_text(run_lines(["101", "102"], 5, name, i))
    res = cli("ingest", "-c", "base", *files.values(), "--measures", "P@5")
    assert res.code == 2 and "run 'bm25' already exists" in res.err
    assert [r["name"] for r in cli("runs", "list", "-c", "base", "--json").json()] == ["bm25", "dense", "first"]
    assert get_run_rows(Store(db), "base", "bm25").equals(before)
    again = cli("evaluate", "-c", "base", "-m", "P@5", "--runs", "first")  # scored in the ingest's transaction
    assert "scored now: 0 " in again.out + again.err

    twin = tmp_path / "x" / "last.trec"  # same run name as files["last"], other bytes
    twin.write_text(run_lines(["101"], 3, "twin", 9))
    res = cli("ingest", "-c", "base", files["last"], twin, files["bm25"], "--keep-going")
    assert res.code == 2
    assert [ln.split(":")[0] for ln in res.err.splitlines() if ln.startswith("refused")] == [
        f"refused {twin}", f"refused {files['bm25']}"]
    runs = {r["name"]: r for r in cli("runs", "list", "-c", "base", "--json").json()}
    assert sorted(runs) == ["bm25", "dense", "first", "last"] and runs["last"]["n_rows"] == 10


def test_files_read_ahead_of_a_refused_one_are_not_stored(base, cli, db, tmp_path):
    """Small files are parsed two at a time; without --keep-going, the file read ahead of a refused one is
    dropped, as one file at a time would never have read it."""
    base_db, _ = base
    shutil.copyfile(base_db, db)
    good1, good2 = tmp_path / "good1.trec", tmp_path / "good2.trec"
    good1.write_text(run_lines(["101", "102"], 5, "good1", 3))
    good2.write_text(run_lines(["101", "102"], 5, "good2", 4))
    res = cli("ingest", "-c", "base", good1, CORPUS / "run_score_nan.trec", good2, "--measures", "P@5")
    assert res.code == 2 and "score must be a finite number" in res.err
    assert [r["name"] for r in cli("runs", "list", "-c", "base", "--json").json()] == ["bm25", "dense", "good1"]
    again = cli("ingest", "-c", "base", good2, "--measures", "P@5")  # nothing of it was left behind
    assert again.code == 0 and "added" in again.err
