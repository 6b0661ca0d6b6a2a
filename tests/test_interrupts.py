"""Issue 15, Ctrl-C: exit 130, a line that is true, and a store unchanged by the unfinished operation.

Real SIGINTs go to a real `workbench ingest` process (like test_reliability_crash.py's SIGKILLs), at moments spread
over the whole command: while modules load, while the file is parsed, while rows are copied into the store, and
the moment the store file grows (the commit). Each trial runs on its own copy of the base store. After it:

  * the exit status is 130, stderr has no traceback and ends with the promised line, `interrupted; the store is
    unchanged by the unfinished operation` (`interrupted; no store was opened, so nothing was stored` before the
    command opened it), and then every table is as it was (conftest.snapshot); or, when the
    Ctrl-C landed while COMMIT was writing, with `interrupted while committing run 'big': that commit completed;
    nothing after it changed the store` (`interrupted after committing ...` when it landed once COMMIT had
    returned, before the "added" line), and then the run is there complete and the rest as it was;
  * the store is consistent (test_reliability_support.store_problems) and takes a new ingest.

A signal in the interpreter's own start-up, before `workbench.cli.main` runs (about 0.03 s here, more under load),
meets Python's default handler: the process ends by SIGINT (a shell shows 130) with Python's KeyboardInterrupt
message, before the store was opened; the early trials accept that and check the store.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from conftest import DL20, DL20_RUNS, ROOT, snapshot
from test_reliability_support import (
    QUERIES,
    copy_store,
    make_base_store,
    popen_cli,
    run_lines,
    store_problems,
    without_run,
)

from workbench import interrupts

PROMISED = "interrupted; the store is unchanged by the unfinished operation"
NO_STORE = "interrupted; no store was opened, so nothing was stored"
LATE = "interrupted while committing run 'big': that commit completed; nothing after it changed the store"
AFTER = "interrupted after committing run 'big': that commit completed; nothing after it changed the store"
LINES = 400_000
TRIALS = 12  # spread over the ingest's duration
WRITE_TRIALS = 3  # as soon as the store file (or its WAL) grows
STARTUP = 0.2  # a signal this early may land before the interpreter has run the CLI's first line (more under load)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupts")
    base, _ = make_base_store(folder / "base")
    run = folder / "big.trec"
    con = duckdb.connect()
    try:  # 400 queries x 1,000 documents, distinct scores
        con.execute(f"""
            COPY (SELECT (100 + q)::VARCHAR, 'Q0', 'd' || (q * 1000 + r)::VARCHAR, r + 1, 50.0 - r * 0.01, 'big'
                  FROM range({LINES // 1000}) t1(q), range(1000) t2(r) ORDER BY q, r)
            TO '{run}' (FORMAT csv, DELIMITER ' ', HEADER false, QUOTE '')""")
    finally:
        con.close()
    return base, run


def _sizes(db: Path) -> tuple[int, int]:
    wal = Path(str(db) + ".wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


def _trial(base: Path, run: Path, folder: Path, delay: float | None) -> tuple[str, float]:
    """One interrupted ingest; `delay` None: the moment the store grows. Returns (outcome, delay used)."""
    db = copy_store(base, folder / "s.duckdb")
    before = snapshot(db)
    sizes = _sizes(db)
    started = time.monotonic()
    proc = popen_cli(db, "ingest", "-c", "base", run, "--name", "big")
    if delay is None:
        while proc.poll() is None and _sizes(db) == sizes and time.monotonic() - started < 120:
            time.sleep(0.001)
    else:
        while proc.poll() is None and time.monotonic() - started < delay:
            time.sleep(0.002)
    used = time.monotonic() - started
    if proc.poll() is not None:  # finished before the signal: not a trial
        proc.communicate()
        return "finished", used
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    label = f"delay {used:.3f} s: {err!r}"
    assert store_problems(db) == [], label
    after = snapshot(db)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    if proc.returncode == 0 and "added     big" in err and "interrupted" not in err:
        return "finished", used  # the signal came after the command was complete (its shutdown ignores it)
    if proc.returncode in (-signal.SIGINT, 1) and "/workbench/" not in err:  # Python's own start-up (site, imports)
        assert "KeyboardInterrupt" in err, label
        assert after == before, label
        outcome = "start-up"
    elif last in (PROMISED, NO_STORE) and "added     big" not in err:  # NO_STORE: before ingest opened the store
        assert proc.returncode == 130, label
        assert after == before, label
        outcome = "unchanged"
    else:  # stored: reported as added before the interrupt, or committed while the interrupt waited for COMMIT
        assert proc.returncode == 130, label
        # AFTER: the Ctrl-C came once COMMIT had returned, before the "added" line (it used to say PROMISED)
        assert last == PROMISED if "added     big" in err else last in (LATE, AFTER), label
        con = duckdb.connect(str(db), read_only=True)
        try:
            (run_hash, n_rows), = con.execute(
                "SELECT run_hash, n_rows FROM runs WHERE collection = 'base' AND name = 'big'").fetchall()
        finally:
            con.close()
        assert n_rows == LINES, label
        assert without_run(after, "big", run_hash) == before, label
        outcome = "stored"
    if outcome != "start-up":
        assert "Traceback" not in err and "Error" not in err, label
    from workbench.cli.main import main

    tiny = folder / "after.trec"
    tiny.write_text("101 Q0 d1 1 2.0 t\n101 Q0 d2 2 1.0 t\n")
    assert main(["--db", str(db), "ingest", "-c", "base", str(tiny)]) == 0  # the store takes new work
    assert store_problems(db) == []
    return outcome, used


@pytest.mark.slow
def test_ctrl_c_at_many_moments_of_an_ingest(inputs, tmp_path):
    base, run = inputs
    db = copy_store(base, tmp_path / "control" / "s.duckdb")
    started = time.monotonic()
    proc = popen_cli(db, "ingest", "-c", "base", run, "--name", "big")
    _, err = proc.communicate(timeout=300)
    duration = time.monotonic() - started
    assert proc.returncode == 0, err

    rng = random.Random(15)
    plan: list[float | None] = [0.06, 0.12, 0.25]  # while the CLI's modules load
    span = duration * 1.05 - STARTUP
    plan += [STARTUP + (i + rng.uniform(0.05, 0.95)) / TRIALS * span for i in range(TRIALS)]
    plan += [None] * WRITE_TRIALS
    outcomes = []
    for i, delay in enumerate(plan):
        for attempt in range(3):  # the machine's load varies: a trial that finished first is run again sooner
            outcome, used = _trial(base, run, tmp_path / f"t{i}-{attempt}", delay)
            if outcome != "finished":
                outcomes.append(outcome)
                break
            delay = used * 0.8 if delay is not None else None
    assert len(outcomes) >= len(plan) - 2, outcomes
    assert outcomes.count("unchanged") >= len(outcomes) // 2, outcomes
    assert outcomes.count("start-up") <= 5, outcomes
    print(f"ingest {duration:.2f} s; outcomes: {outcomes}")


# ---------------------------------------------------------------------------------- the commit, in process
def _kill_self_soon(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


class _SlowCommit:
    """A real DuckDB connection whose COMMIT gets a SIGINT while it runs (the signal lands inside DuckDB)."""

    def __init__(self, con) -> None:
        self.con = con

    def execute(self, sql, *args):
        if sql == "COMMIT":
            _kill_self_soon(0.0)
            time.sleep(0.05)  # the signal is pending when DuckDB starts the commit
        return self.con.execute(sql, *args)


def test_a_ctrl_c_during_commit_waits_for_it_and_says_it_completed(tmp_path):
    path = tmp_path / "plain.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INTEGER)")
    with interrupts.catching():
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO t SELECT * FROM range(1000000)")
        with pytest.raises(KeyboardInterrupt):
            interrupts.commit(_SlowCommit(con), "run 'x'")
        assert interrupts.requested()
        assert interrupts.message() == ("interrupted while committing run 'x': that commit completed; nothing after "
                                        "it changed the store")
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(1000000,)]
    con.close()


def test_a_ctrl_c_just_after_commit_before_the_added_line_says_the_run_was_committed(tmp_path, capsys):
    """The window between COMMIT returning and ingest's "added" line: a real SIGINT lands there every time.

    It used to print "the store is unchanged" over a store that held the new run (about 1 interrupted ingest in
    50-100 of test_ctrl_c_at_many_moments_of_an_ingest)."""
    base, _ = make_base_store(tmp_path / "base")
    before = snapshot(base)
    run = tmp_path / "fresh.trec"
    run.write_text(run_lines(QUERIES, 10, "fresh", 9))
    from workbench.cli.main import main

    real = interrupts.commit

    def commit_then_ctrl_c(con, what="a change"):
        real(con, what)
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode: before commit's caller goes on

    interrupts.commit = commit_then_ctrl_c
    capsys.readouterr()
    try:
        code = main(["--db", str(base), "ingest", "-c", "base", str(run), "--name", "fresh"])
    finally:
        interrupts.commit = real
        signal.signal(signal.SIGINT, signal.default_int_handler)
    err = capsys.readouterr().err
    assert code == 130, err
    assert "added" not in err and err.splitlines()[-1] == (
        "interrupted after committing run 'fresh': that commit completed; nothing after it changed the store"), err
    assert store_problems(base) == []
    after = snapshot(base)
    (run_hash,) = {r[2] for r in after["runs"] if r[1] == "fresh"}  # stored whole, as the line says
    assert sum(r[0] == run_hash for r in after["run_rows"]) == 50
    assert without_run(after, "fresh", run_hash) == before


def test_nothing_commits_after_a_ctrl_c_that_was_swallowed(tmp_path):
    """Code that catches DuckDB's 'Query interrupted' (an Exception) cannot go on to store anything."""
    path = tmp_path / "plain.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INTEGER)")
    with interrupts.catching():
        timer = _kill_self_soon(0.05)
        with contextlib.suppress(KeyboardInterrupt, RuntimeError):  # DuckDB makes it RuntimeError
            con.execute("SELECT count(*) FROM range(2000000000) t(x) WHERE x % 7 = 3").fetchall()  # ~10 s if not cut
        timer.join()
        assert interrupts.requested()
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(KeyboardInterrupt):
            interrupts.commit(con)
        assert interrupts.message() == PROMISED
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    con.close()


def test_a_ctrl_c_in_a_read_only_command_is_exit_130_and_the_promised_line(tmp_path, capsys):
    base, _ = make_base_store(tmp_path / "base")
    before = snapshot(base)
    import workbench.store as store_api  # run_cmds imports it when the command runs (start-up, issue 21)
    from workbench.cli.main import main

    real = store_api.list_runs

    def interrupted_list(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # a real signal, caught by the CLI's handler
        time.sleep(0.01)
        return real(*args, **kwargs)

    store_api.list_runs = interrupted_list
    capsys.readouterr()
    try:
        code = main(["--db", str(base), "runs", "list", "-c", "base"])
    finally:
        store_api.list_runs = real
        signal.signal(signal.SIGINT, signal.default_int_handler)
    err = capsys.readouterr().err
    assert code == 130 and err == PROMISED + "\n"
    assert snapshot(base) == before


_EVAL_INTERRUPTED = """
import os, signal, sys, time
import workbench.io.runs as runs

real = runs.read_run

def read_run(*args, **kwargs):  # a real SIGINT while eval reads its run, caught by the CLI's handler
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)
    return real(*args, **kwargs)

runs.read_run = read_run
from workbench.cli.main import main
sys.argv = ["workbench", *sys.argv[1:]]
sys.exit(main())
"""


def test_a_ctrl_c_in_eval_which_has_no_store_says_so(tmp_path):
    """`workbench eval` keeps no store: its Ctrl-C line must not speak of one (it said "the store is unchanged")."""
    db = tmp_path / "never.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_DB": str(db)}
    res = subprocess.run([sys.executable, "-c", _EVAL_INTERRUPTED, "eval", str(DL20 / "qrels.dl20-passage.txt"),
                          str(DL20_RUNS / "bm25.trec"), "-m", "map"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 130, res.stderr
    assert res.stderr == NO_STORE + "\n" and res.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no store, no file: neither $WORKBENCH_DB nor ./workbench.duckdb


def test_a_store_command_interrupted_after_opening_its_store_still_speaks_of_it(tmp_path, capsys):
    """A run read the same way inside `ingest`, which has opened its store: the store's line, store unchanged."""
    base, _ = make_base_store(tmp_path / "base")
    before = snapshot(base)
    import workbench.io.runs as runs
    from workbench.cli.main import main

    real = runs.read_run

    def interrupted_read(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return real(*args, **kwargs)

    runs.read_run = interrupted_read
    capsys.readouterr()
    try:
        code = main(["--db", str(base), "ingest", "-c", "base", str(DL20_RUNS / "bm25.trec"), "--name", "fresh"])
    finally:
        runs.read_run = real
        signal.signal(signal.SIGINT, signal.default_int_handler)
    err = capsys.readouterr().err
    assert code == 130 and err.splitlines()[-1] == PROMISED, err
    assert snapshot(base) == before
