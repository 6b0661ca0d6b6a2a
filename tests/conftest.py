"""Shared fixtures: real stores in temp folders, the real CLI, the bundled data."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DL20 = DATA / "trec-dl-2020"
DL20_RUNS = ROOT / "runs" / "dl20"
SCIFACT = DATA / "scifact"
TREC_EVAL = ROOT / "tests" / "data" / "trec_eval"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "unused")


def pytest_configure(config) -> None:
    """One retrieval cache (Lucene indexes, embeddings) for the whole session: encoding SciFact takes minutes.

    WORKBENCH_TEST_CACHE=<dir> keeps it across sessions; otherwise it is a fresh temporary folder.
    """
    if "WORKBENCH_CACHE" not in os.environ:
        import tempfile

        os.environ["WORKBENCH_CACHE"] = os.environ.get("WORKBENCH_TEST_CACHE") or tempfile.mkdtemp(
            prefix="workbench-test-cache-")


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def cli(db, capsys):
    """Run `workbench --db <tmp store> ...` in-process (the real argparse entry point) and capture output."""
    from workbench.cli.main import main

    def run(*args: str, store: Path | None = None) -> CliResult:
        capsys.readouterr()
        code = main(["--db", str(store or db), *map(str, args)])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def snapshot(path: Path) -> dict:
    """Everything a user could observe in a store: every table's rows, in a canonical order."""
    import duckdb

    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        out = {}
        for t in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [t]).fetchall()]
            cols = [c for c in cols if c not in ("ingested_at", "created_at", "scored_at")]
            sel = ", ".join(f'"{c}"' for c in cols)
            out[t] = con.execute(f'SELECT {sel} FROM "{t}" ORDER BY ALL').fetchall()
        return out
    finally:
        con.close()


@pytest.fixture(scope="session")
def dl20_store(tmp_path_factory) -> Path:
    """A store with the DL 2020 collection and all 24 bundled runs, scored on the default measures (built once)."""
    from workbench.cli.main import main

    path = tmp_path_factory.mktemp("dl20") / "dl20.duckdb"
    assert main(["--db", str(path), "collection", "add", "dl20", "--qrels", str(DL20 / "qrels.dl20-passage.txt"),
                 "--topics", str(DL20 / "topics.dl20.txt"), "--docs", str(DL20 / "passages.tsv.gz")]) == 0
    assert main(["--db", str(path), "build", "--manifest", str(ROOT / "data_manifest.yaml"),
                 "--collection", "dl20"]) == 0
    assert main(["--db", str(path), "evaluate", "--collection", "dl20"]) == 0
    return path
