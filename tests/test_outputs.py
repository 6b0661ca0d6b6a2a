"""Issue 15 and 17.6: files the workbench writes, and writes that cannot be done.

Leaderboards (-o), score exports (-o), exported runs (--out-dir) and produced runs (--runs-dir) are written through a
temporary file and a rename, with the user's umask (0644 under the usual 022; not the 0600 of a bare mkstemp),
and an existing file keeps its mode. A place that cannot be written (`/dev/full`, a folder given as a file, a file
given as a folder, `/proc`) and a full disk during a store write are one line `error: ...`, exit 2, the store
unchanged. The full disk is simulated with a file-size limit on a real `workbench` process (RLIMIT_FSIZE: DuckDB's
writes fail with EFBIG, as with ENOSPC on a full disk; no tmpfs or loop mount can be made in this sandbox), and
with `/dev/full` for exports.
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import snapshot
from test_reliability_support import store_problems, workbench_exe

from workbench.store import Store


def one_line_error(res) -> str:
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.err, res.err
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for a test (restored after)."""
    old = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(old)


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("argv, message", [
    (["leaderboard", "-c", "base", "-o", "/dev/full"], "error: /dev/full: cannot write: No space left on device"),
    (["export", "scores", "-c", "base", "-o", "/dev/full"],
     "error: /dev/full: cannot write: No space left on device"),
    (["export", "scores", "-c", "base", "--format", "parquet", "-o", "/dev/full"],
     "error: /dev/full: cannot write: No space left on device"),
    (["leaderboard", "-c", "base", "-o", "DIR"], "error: DIR: is a folder; give a file name"),
    (["export", "scores", "-c", "base", "--format", "parquet", "-o", "DIR"],
     "error: DIR: is a folder; give a file name"),
    (["runs", "export", "-c", "base", "--out-dir", "FILE"], "error: FILE: not a folder (a file of that name exists)"),
    (["runs", "export", "-c", "base", "--out-dir", "/proc/workbench"], "error: /proc/workbench: cannot create the "
                                                                       "folder: No such file or directory"),
    (["fuse", "-c", "base", "bm25", "dense", "--runs-dir", "/proc"], "error: /proc/base: cannot create the folder: "
                                                                     "No such file or directory"),
    (["fuse", "-c", "base", "bm25", "dense", "--runs-dir", "FILE"], "error: FILE/base: cannot create the folder: "
                                                                    "Not a directory"),
    (["leaderboard", "-c", "base", "-o", "FILE/x.md"], "error: FILE/x.md: cannot write: Not a directory"),
])
def test_unwritable_outputs_are_one_line_and_change_nothing(store, cli, tmp_path, argv, message):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    (folder / "inside.txt").write_text("keep\n")
    afile = tmp_path / "a-file"
    afile.write_text("keep\n")

    def fill(text: str) -> str:
        return text.replace("DIR", str(folder)).replace("FILE", str(afile))

    before = snapshot(store)
    line = one_line_error(cli(*map(fill, argv)))
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # written to, never replaced (we may run as root)
    assert line == fill(message)
    assert snapshot(store) == before
    assert afile.read_text() == "keep\n" and [p.name for p in folder.iterdir()] == ["inside.txt"]
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_rewritten_file_keeps_its_mode_and_no_temp_file_is_left(store, cli, tmp_path):
    target = tmp_path / "out" / "lb.md"
    target.parent.mkdir()
    target.write_text("the old leaderboard\n")
    os.chmod(target, 0o640)
    res = cli("leaderboard", "-c", "base", "-o", target)
    assert res.code == 0 and target.read_text().startswith("| run")
    assert mode(target) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["lb.md"]


def test_a_failed_write_leaves_the_old_file_whole(store, cli, tmp_path):
    """A leaderboard through a symlink to /dev/full: the write fails at its target, nothing else is touched."""
    link = tmp_path / "lb.md"
    link.symlink_to("/dev/full")
    line = one_line_error(cli("leaderboard", "-c", "base", "-o", link))
    assert line == f"error: {link}: cannot write: No space left on device"
    assert link.is_symlink() and os.readlink(link) == "/dev/full"


# ------------------------------------------------------------------------------------------------- modes
def test_written_files_get_the_users_umask(store, cli, tmp_path, umask):
    out = tmp_path / "out"
    cases = {
        "leaderboard": (["leaderboard", "-c", "base", "-f", "latex", "-o", out / "lb.tex"], out / "lb.tex"),
        "scores csv": (["export", "scores", "-c", "base", "-o", out / "s.csv"], out / "s.csv"),
        "scores parquet": (["export", "scores", "-c", "base", "-f", "parquet", "-o", out / "s.parquet"],
                           out / "s.parquet"),
        "exported run": (["runs", "export", "-c", "base", "bm25", "--out-dir", out / "runs"],
                         out / "runs" / "bm25.trec"),
        "produced run": (["fuse", "-c", "base", "bm25", "dense", "--runs-dir", out / "made"],
                         out / "made" / "base" / "rrf-bm25+dense.trec"),
    }
    for value, want in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        umask(value)
        for name, (argv, path) in cases.items():
            if path.exists():
                path.unlink()
            if name == "produced run":
                argv = [*argv, "--force"]
            res = cli(*argv)
            assert res.code == 0, (name, res.err)
            assert mode(path) == want, (name, oct(value), oct(mode(path)))


def test_default_runs_dir_is_beside_the_store_unless_workbench_runs_dir(store, cli, monkeypatch, tmp_path):
    from workbench.services.produce import default_runs_dir

    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    assert default_runs_dir(Store(store)) == store.parent / "runs"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not where the process runs: beside the store
    assert cli("fuse", "-c", "base", "bm25", "dense").code == 0
    assert (store.parent / "runs" / "base" / "rrf-bm25+dense.trec").is_file()
    assert not (elsewhere / "runs").exists()
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path / "mine"))
    assert default_runs_dir(Store(store)) == tmp_path / "mine"
    assert cli("fuse", "-c", "base", "bm25", "dense", "--method", "combsum").code == 0
    assert (tmp_path / "mine" / "base" / "combsum-bm25+dense.trec").is_file()


# --------------------------------------------------------------------------------------------- full disk
def limited(db: Path, limit: int, *args) -> subprocess.CompletedProcess:
    """`workbench --db db ARGS` in a process that cannot grow any file past `limit` bytes (Python ignores
    SIGXFSZ, so writes fail with EFBIG as they would with ENOSPC on a full disk)."""
    return subprocess.run([*workbench_exe(), "--db", str(db), *map(str, args)], capture_output=True, text=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)), timeout=300)


@pytest.fixture
def big_run(tmp_path) -> Path:
    import duckdb

    path = tmp_path / "big.trec"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT (101 + q % 5)::VARCHAR, 'Q0', 'x' || (q * 1000 + r)::VARCHAR, r + 1,
                                 100.0 - r * 0.01, 'big' FROM range(300) t1(q), range(1000) t2(r))
                    TO '{path}' (FORMAT csv, DELIMITER ' ', HEADER false, QUOTE '')""")
    con.close()
    return path


@pytest.mark.parametrize("room", [1_000, 200_000, 4_000_000])
def test_a_full_disk_during_an_ingest_is_one_line_and_the_store_unchanged(store, big_run, room):
    """`room`: bytes the store file may still grow by (the WAL starts at 0 and may not pass the limit either)."""
    before = snapshot(store)
    res = limited(store, store.stat().st_size + room, "ingest", "-c", "base", big_run, "--name", "big")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith(f"error: {store}: the write failed and was rolled back, the store is unchanged: "), \
        lines[0]
    assert "File too large" in lines[0]
    assert store_problems(store) == []
    assert snapshot(store) == before


def test_a_full_disk_while_adding_a_collection_is_one_line(tmp_path, base):
    db = tmp_path / "new.duckdb"
    qrels = Path(__file__).parent / "data" / "trec_eval" / "qrels.test"  # 3,681 judgments: over 16 KiB in the WAL
    res = limited(db, 16_384, "collection", "add", "c", "--qrels", qrels)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith(f"error: {db}: ") and len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("argv", [
    ("leaderboard", "-c", "base", "-o"),
    ("export", "scores", "-c", "base", "--format", "csv", "-o"),
    ("export", "scores", "-c", "base", "--format", "parquet", "-o"),
    ("pool", "-c", "base", "--depth", "5", "-o"),
])
def test_an_output_never_replaces_a_duckdb_database(store, cli, tmp_path, argv):
    """`-o` naming the store itself, or any other DuckDB file, is refused before anything is written."""
    import duckdb

    other = tmp_path / "mine.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t AS SELECT 42 AS x").close()
    for target in (store, other):
        before, raw = snapshot(store), target.read_bytes()
        res = cli(*argv, target)
        assert one_line_error(res) == (f"error: {target}: is a DuckDB database (a store?); an output never replaces "
                                       "one, give another file name")
        assert target.read_bytes() == raw and snapshot(store) == before


@pytest.mark.parametrize("argv", [
    ("leaderboard", "-c", "base", "-o"),
    ("pool", "-c", "base", "--depth", "5", "-o"),
])
def test_an_output_never_replaces_a_duckdb_write_ahead_log(store, cli, tmp_path, argv):
    """`-o STORE.wal` would replace (or plant) the log DuckDB replays on the next open: committed data was lost
    that way after a kill -9 (wave-4 review). Refused whether the log exists or not, its bytes untouched."""
    import duckdb

    other = tmp_path / "mine.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t AS SELECT 42 AS x").close()
    for db in (store, other):
        wal = db.with_name(db.name + ".wal")
        for content in (None, b"not really a log"):
            if content is not None:
                wal.write_bytes(content)
            before = snapshot(store)
            res = cli(*argv, wal)
            assert one_line_error(res).startswith(f"error: {wal}: is the write-ahead log of a DuckDB database"), res
            assert (wal.read_bytes() == content if content is not None else not wal.exists())
            assert snapshot(store) == before
            wal.unlink(missing_ok=True)
