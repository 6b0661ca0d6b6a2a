"""Shared fixtures: real stores in temp folders, the real CLI, the bundled data."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
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

    WORKBENCH_TEST_CACHE=<dir> keeps it across sessions; otherwise it is a fresh temporary folder, removed when
    the session ends (pytest_unconfigure).
    """
    if "WORKBENCH_CACHE" not in os.environ:
        import tempfile

        kept = os.environ.get("WORKBENCH_TEST_CACHE")
        os.environ["WORKBENCH_CACHE"] = kept or tempfile.mkdtemp(prefix="workbench-test-cache-")
        if not kept:
            config.workbench_temporary_cache = os.environ["WORKBENCH_CACHE"]


def pytest_unconfigure(config) -> None:
    """Remove the session's temporary retrieval cache (~20 MB after the SciFact tests), never a kept one."""
    temporary = getattr(config, "workbench_temporary_cache", None)
    if temporary:
        shutil.rmtree(temporary, ignore_errors=True)


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


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The reliability base store (test_reliability_support.make_base_store: collection `base`, runs bm25 and
    dense, scored) and its input files, built once per session. Shared: copy it (`store`), never write to it."""
    from test_reliability_support import make_base_store

    return make_base_store(tmp_path_factory.mktemp("base"))


@pytest.fixture
def store(base, db) -> Path:
    """A private copy of the base store at `db`, for a test that changes it."""
    shutil.copyfile(base[0], db)
    return db


def _die_with_parent() -> Callable[[], None] | None:
    """For a child, before exec: SIGKILL when pytest ends, however it ends (a SIGTERM or SIGKILL runs no teardown).
    Looked up here, in the parent, so that the forked child only makes the call."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None
    return lambda: prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class BackgroundBuild:
    """`workbench build -c scifact` of the bundled manifest, as a real CLI process running beside the tests.

    Its store and manifest are the SciFact demo build's (tests/test_produce_cli.py). It writes the session's
    retrieval cache (`WORKBENCH_CACHE`: the Lucene index, the MiniLM embeddings), which the SciFact tests then
    reuse. Niced: the tests running meanwhile keep priority, and the build takes the core they leave idle.
    """

    def __init__(self, folder: Path) -> None:
        from test_reliability_support import workbench_exe

        self.db = folder / "sf.duckdb"
        self.manifest = folder / "manifest.yaml"
        self.manifest.write_text((ROOT / "data_manifest.yaml").read_text().replace(": data/", f": {ROOT}/data/")
                                 .replace("file: runs/", f"file: {ROOT}/runs/"))
        self.log = folder / "build.log"
        nice = ["nice", "-n", "10"] if shutil.which("nice") else []
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*nice, *workbench_exe(), "--db", str(self.db), "build", "--manifest", str(self.manifest),
                 "-c", "scifact"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent())

    def wait(self) -> tuple[Path, Path]:
        """(store, manifest) once the build has ended; fails the test with the build's output if it failed."""
        if self.proc.poll() is None:  # a test waits for it now: it gets the priority back (where one may raise it)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PGRP, self.proc.pid, 0)
        code = self.proc.wait(timeout=3600)
        assert code == 0, f"workbench build -c scifact exited {code}:\n{self.log.read_text()[-4000:]}"
        return self.db, self.manifest

    def stop(self) -> None:
        """End the build if the session ends first (a test selection, -x, Ctrl-C): its process group."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture(scope="session", autouse=True)
def scifact_build_started(request, tmp_path_factory):
    """Start the SciFact demo build as the session begins, when a selected test needs it (`scifact_build`).

    Encoding SciFact's 5,183 abstracts with MiniLM takes ~6 min of one core. The suite runs its tests one at a
    time and leaves the other core mostly idle, so the build runs there while the tests before it run, instead of
    in the setup of the first test that needs it.
    """
    if not any("scifact_build" in item.fixturenames for item in request.session.items):
        yield None
        return
    job = BackgroundBuild(tmp_path_factory.mktemp("scifact"))
    yield job
    job.stop()


@pytest.fixture(scope="session")
def scifact_build(scifact_build_started, tmp_path_factory) -> tuple[Path, Path]:
    """(store, manifest): the bundled SciFact collection and the manifest's four pipelines, built by `workbench
    build` (BackgroundBuild). One store for the session: only tests/test_produce_cli.py uses it."""
    return (scifact_build_started or BackgroundBuild(tmp_path_factory.mktemp("scifact"))).wait()


@pytest.fixture(scope="session")
def retrieval_cache(scifact_build_started) -> Path:
    """The session's retrieval cache (pytest_configure), once the SciFact build, if started, has filled it: a test
    that encodes SciFact itself meanwhile would do the same ~6 min of work twice."""
    if scifact_build_started is not None:
        with contextlib.suppress(AssertionError):  # a failed build fails its own tests; these build what they need
            scifact_build_started.wait()
    return Path(os.environ["WORKBENCH_CACHE"])
