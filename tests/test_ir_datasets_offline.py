"""`collection add --ir-datasets` never touches the network (issue 16 item 5).

Each case runs the real CLI in a fresh interpreter (ir_datasets reads IR_DATASETS_HOME when it is imported) under
an audit hook that refuses and reports every socket connection and DNS lookup, with an empty or a prepared
IR_DATASETS_HOME.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import snapshot

ROOT = Path(__file__).resolve().parents[1]
GUARD = """
import sys
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.create_connection"):
        sys.stderr.write(f"NETWORK {event} {args!r}\\n")
        raise OSError("network refused by the test")
sys.addaudithook(hook)
from workbench.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "IR_DATASETS_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", GUARD, *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_missing_files_one_line_no_network_no_folders(tmp_path, cli, db):
    home = tmp_path / "irds"
    home.mkdir()
    assert cli("collection", "add", "other", "--qrels", ROOT / "tests/data/trec-mini/qrels.301-303.txt").code == 0
    before = snapshot(db)
    res = run(home, "--db", str(db), "collection", "add", "v", "--ir-datasets", "vaswani")
    assert res.returncode == 2, res.stderr
    assert "NETWORK" not in res.stderr and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: vaswani: not available offline (ir_datasets reads "
                               f"{home / 'vaswani' / 'npl.tar.gz'}, which is missing (IR_DATASETS_HOME is {home}): "
                               "put the file there (it is downloaded from http")
    assert tree(home) == []  # not even the folders `import ir_datasets` makes
    assert snapshot(db) == before


def test_unknown_id_and_missing_home(tmp_path):
    home = tmp_path / "not-there"
    res = run(home, "--db", str(tmp_path / "s.duckdb"), "collection", "add", "v", "--ir-datasets", "no/such/id")
    assert res.returncode == 2 and "NETWORK" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "error: no/such/id: unknown ir_datasets id (see https://ir-datasets.com for the ids)"]
    assert not home.exists() and not (tmp_path / "s.duckdb").exists()


def test_files_present_are_loaded(tmp_path, db):
    """A vaswani-shaped dataset placed where ir_datasets looks (its extracted files) loads without the network."""
    home = tmp_path / "irds"
    (home / "vaswani").mkdir(parents=True)
    (home / "vaswani" / "docs.txt").write_text(
        "1\ncompact memories have flexible capacities\n   /\n2\nan electronic analogue computer\n   /\n"
        "3\nmemory capacity of a computer\n   /\n")
    (home / "vaswani" / "queries.txt").write_text("1\nMEASUREMENT OF DIELECTRIC CONSTANT\n/\n2\nCOMPUTER MEMORY\n/\n")
    (home / "vaswani" / "qrels.txt").write_text("1\n 2 3\n   /\n2\n 1 3\n   /\n")
    before = tree(home)
    res = run(home, "--db", str(db), "collection", "add", "v", "--ir-datasets", "vaswani", "--json")
    assert res.returncode == 0, res.stderr
    assert "NETWORK" not in res.stderr
    import json

    info = json.loads(res.stdout)
    assert (info["n_queries"], info["n_judgments"], info["n_topics"], info["n_docs"]) == (2, 4, 2, 3)
    assert info["source"] == {"ir_datasets": "vaswani"} and info["report"]["grades"] == {"1": 4}
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT query_id, text FROM topics ORDER BY 1").fetchall() == [
        ("1", "MEASUREMENT OF DIELECTRIC CONSTANT"), ("2", "COMPUTER MEMORY")]
    assert con.execute("SELECT query_id, doc_id, relevance FROM qrels ORDER BY 1, 2").fetchall() == [
        ("1", "2", 1), ("1", "3", 1), ("2", "1", 1), ("2", "3", 1)]
    con.close()
    assert tree(home) == before
