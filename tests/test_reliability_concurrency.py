"""Issue 7, concurrent use: one writer at a time, writers wait with a message, readers retry, nobody sees a
lock error, a partial run or a lost run.

DuckDB lets one process open the file read-write or many read-only, never both; the store never keeps a
connection open, and Store._connect retries while the file is locked (telling a writer's user once).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest
from conftest import snapshot
from test_reliability_support import ROOT, copy_store, make_base_store, popen_cli, run_cli, store_problems

pytestmark = pytest.mark.slow

WAIT_MESSAGE = "waiting for another process to release"

# The dashboard's access pattern: a fresh Store per call, short read-only connections, nothing held.
READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from workbench.scoring import SEMANTICS
    from workbench.store import Store, list_runs, per_query_scores

    db, stop = Path(sys.argv[1]), Path(sys.argv[2])
    seen, loops, partial = [], 0, []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        last = stop.exists()  # the writers are done: this pass is the last one, and it must see all they added
        store = Store(db, lock_timeout=120)
        runs = list_runs(store, "base")
        scores = per_query_scores(store, "base", ["nDCG@10"], SEMANTICS)
        assert set(scores["run"]) >= {"bm25", "dense"}
        with store.reader() as con:  # every visible run has all its rows
            for name, n_rows, n in con.execute(
                    "SELECT r.name, r.n_rows, (SELECT count(*) FROM run_rows rr WHERE rr.run_hash = r.run_hash) "
                    "FROM runs r").fetchall():
                if n != n_rows:
                    partial.append((name, n_rows, n))
        names = sorted(r.name for r in runs)
        if not seen or seen[-1] != names:
            seen.append(names)
        loops += 1
        if last:
            break
    print(json.dumps({"loops": loops, "seen": seen, "partial": partial}))
""")


def _write_runs(folder, n_runs: int, n_queries: int, depth: int = 1000) -> list:
    """Runs big enough (n_queries x depth lines) that the four ingests overlap in time."""
    paths = []
    con = duckdb.connect()
    try:
        for k in range(n_runs):
            path = folder / f"writer{k}.trec"
            con.execute(f"""
                COPY (SELECT (101 + q)::VARCHAR, 'Q0', 'd' || ((hash(q, {k}) % 9000)::BIGINT * 1000 + r)::VARCHAR,
                             r + 1, round(50.0 - r * 0.01 - {k} * 0.001, 4), 'w{k}'
                      FROM range({n_queries}) t1(q), range({depth}) t2(r) ORDER BY q, r)
                TO '{path}' (FORMAT csv, DELIMITER ' ', HEADER false, QUOTE '')""")
            paths.append(path)
    finally:
        con.close()
    return paths


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_base_store(tmp_path_factory.mktemp("base"))[0]


def _lines_ok(stderr: str) -> None:
    """A writer's stderr may say it waited and what it added; nothing else (no error, no traceback)."""
    for line in stderr.splitlines():
        assert not line.strip() or line.startswith(("added ", WAIT_MESSAGE)), stderr
    low = stderr.lower()
    assert "error" not in low and "traceback" not in low and "lock" not in low.replace(WAIT_MESSAGE, ""), stderr


def test_four_cli_writers_and_a_dashboard_reader(base, tmp_path):
    db = copy_store(base, tmp_path / "s.duckdb")
    before = snapshot(db)
    files = _write_runs(tmp_path, 4, 150)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(stop)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(1.0)  # the reader is looping before the writers start
    writers = [popen_cli(db, "ingest", "-c", "base", f, "--kind", "dense") for f in files]
    results = [(w.wait(timeout=600), *w.communicate()) for w in writers]
    time.sleep(0.5)
    stop.touch()
    out, err = reader.communicate(timeout=300)

    assert reader.returncode == 0, err
    assert err == ""
    for code, _out, err_w in results:
        assert code == 0, err_w
        _lines_ok(err_w)
    stats = json.loads(out)
    assert stats["partial"] == []
    assert stats["loops"] > 5
    assert stats["seen"][0] == ["bm25", "dense"]
    assert stats["seen"][-1] == ["bm25", "dense", "writer0", "writer1", "writer2", "writer3"]
    for earlier, later in zip(stats["seen"], stats["seen"][1:], strict=False):  # runs only ever appear
        assert set(earlier) < set(later)
    waited = sum(WAIT_MESSAGE in err_w for _, _, err_w in results)
    print(f"\nreader loops: {stats['loops']}, states seen: {len(stats['seen'])}, writers that waited: {waited}")

    after = snapshot(db)
    assert {k: v for k, v in after.items() if k not in ("runs", "run_rows", "run_top_rows")} == {
        k: v for k, v in before.items() if k not in ("runs", "run_rows", "run_top_rows")}
    assert [r for r in after["runs"] if r[1] in ("bm25", "dense")] == before["runs"]
    assert store_problems(db) == []
    listed = run_cli(db, "runs", "list", "-c", "base", "--json")
    assert {r["name"]: r["n_rows"] for r in json.loads(listed.stdout)} == {
        "bm25": 50, "dense": 50, **{f"writer{k}": 150_000 for k in range(4)}}


def _hold_write_lock(db, seconds: float) -> subprocess.Popen:
    """Another process holding the store read-write (as a long ingest's transaction does)."""
    code = (f"import duckdb, time, sys; con = duckdb.connect({str(db)!r}); print('held', flush=True); "
            f"time.sleep({seconds}); con.close()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_writer_waits_with_a_message_then_succeeds(base, tmp_path):
    db = copy_store(base, tmp_path / "s.duckdb")
    run = tmp_path / "late.trec"
    run.write_text("101 Q0 d1 1 2.0 t\n101 Q0 d2 2 1.0 t\n")
    holder = _hold_write_lock(db, 4)
    started = time.monotonic()
    res = run_cli(db, "ingest", "-c", "base", run)
    holder.wait(timeout=60)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - started >= 2  # it really waited for the holder
    assert res.stderr.count(WAIT_MESSAGE) == 1, res.stderr  # told once, not once per retry
    assert f"{WAIT_MESSAGE} {db}" in res.stderr
    _lines_ok(res.stderr)


def test_readers_retry_while_a_writer_holds_the_store(base, tmp_path):
    """A CLI read waits (saying so once, as a writer does); the dashboard's Store (no on_wait) retries silently."""
    db = copy_store(base, tmp_path / "s.duckdb")
    holder = _hold_write_lock(db, 3)
    res = run_cli(db, "runs", "list", "-c", "base", "--json")
    holder.wait(timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr in ("", f"{WAIT_MESSAGE} {db} ...\n"), res.stderr
    assert [r["name"] for r in json.loads(res.stdout)] == ["bm25", "dense"]

    holder = _hold_write_lock(db, 3)
    code = ("import sys; from workbench.app import data; from workbench.store import list_runs; "
            f"print(','.join(r.name for r in list_runs(data.store_for({str(db)!r}), 'base')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    holder.wait(timeout=60)
    assert (res.returncode, res.stdout) == (0, "bm25,dense\n"), res.stderr
    assert "lock" not in res.stderr.lower() and "Traceback" not in res.stderr and WAIT_MESSAGE not in res.stderr


def test_lock_timeout_is_a_one_line_error_and_changes_nothing(base, tmp_path):
    db = copy_store(base, tmp_path / "s.duckdb")
    before = snapshot(db)
    run = tmp_path / "late.trec"
    run.write_text("101 Q0 d1 1 2.0 t\n")
    holder = _hold_write_lock(db, 6)
    res = run_cli(db, "ingest", "-c", "base", run, env={"WORKBENCH_LOCK_TIMEOUT": "1"})
    holder.wait(timeout=60)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines[-1] == (f"error: {db}: another process kept the store locked for 1 s (close the other workbench "
                         "process or raise WORKBENCH_LOCK_TIMEOUT)")
    assert all(ln.startswith((WAIT_MESSAGE, "error:")) for ln in lines) and "Traceback" not in res.stderr
    assert snapshot(db) == before


def test_the_dashboard_holds_no_connection_between_calls():
    """The app reads through workbench.app.data, which makes a Store per call (no module-level connection)."""
    source = (ROOT / "workbench" / "app" / "data.py").read_text()
    assert "duckdb.connect" not in source
    for page in (ROOT / "workbench" / "app").rglob("*.py"):
        assert "duckdb.connect" not in page.read_text(), page


def test_a_reading_block_shares_one_connection_and_releases_the_file(base, tmp_path):
    """Store.reading(): the reads inside it use one read-only connection (a fresh one costs 0.05-0.1 s on a big
    store), a write inside it is a programming error, and once it ends a writer process gets the file at once."""
    from workbench.store import Store, list_runs

    db = copy_store(base, tmp_path / "s.duckdb")
    store = Store(db)
    with store.reading():
        with store.reader() as a, Store(db).reader() as b:  # another handle on the same file shares it too
            assert a is b
        assert [r.name for r in list_runs(store)] == ["bm25", "dense"]
        with pytest.raises(RuntimeError, match="reading"), store.writer():
            pass
    with store.reader() as c, store.reader() as d:
        assert c is not d
    res = run_cli(db, "runs", "delete", "-c", "base", "dense", "--yes", env={"WORKBENCH_LOCK_TIMEOUT": "1"})
    assert res.returncode == 0, res.stderr
    assert [r.name for r in list_runs(store)] == ["bm25"]
