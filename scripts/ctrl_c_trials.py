"""Ctrl-C trials outside pytest (issue 15): SIGINT a real `workbench ingest` of a 400k-line run at random moments.

    PYTHONPATH=$PWD python scripts/ctrl_c_trials.py OUT_DIR [TRIALS] [LO,HI]

Each trial ingests into a fresh copy of the reliability tests' base store and sends SIGINT LO..HI seconds after
the start, or, with negative bounds, that many seconds after the store file (or its WAL) first grows (the
write). The outcome must match the line printed: unchanged store after `interrupted; the store is unchanged ...`;
the whole run stored after an `added` line or `interrupted while/after committing run 'big'`. A mismatch keeps
the trial's folder (before.duckdb, s.duckdb, stderr.txt, mismatch.json) and prints which rows differ, by run
hash. SEED sets the random delays.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import duckdb  # noqa: E402
from conftest import snapshot  # noqa: E402
from test_reliability_support import copy_store, make_base_store, popen_cli, store_problems, without_run  # noqa: E402

OUT = Path(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100
LO, HI = (float(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "0.3,2.0").split(","))
SEED = int(os.environ.get("SEED", "1"))
LINES = 400_000


def setup():
    OUT.mkdir(parents=True, exist_ok=True)
    base = OUT / "base" / "base.duckdb"
    if not base.exists():
        make_base_store(OUT / "base")
    run = OUT / "big.trec"
    if not run.exists():
        con = duckdb.connect()
        con.execute(f"""
            COPY (SELECT (100 + q)::VARCHAR, 'Q0', 'd' || (q * 1000 + r)::VARCHAR, r + 1, 50.0 - r * 0.01, 'big'
                  FROM range({LINES // 1000}) t1(q), range(1000) t2(r) ORDER BY q, r)
            TO '{run}' (FORMAT csv, DELIMITER ' ', HEADER false, QUOTE '')""")
        con.close()
    return base, run


def diff(before_db: Path, after_db: Path) -> list[str]:
    """Which rows differ, per table, grouped by run_hash where the table has one."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{before_db}' AS b (READ_ONLY)")
    con.execute(f"ATTACH '{after_db}' AS a (READ_ONLY)")
    out = []
    for (t,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog='b' "
                            "ORDER BY 1").fetchall():
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog='b' AND table_name=? "
            "ORDER BY ordinal_position", [t]).fetchall()]
        cols = [c for c in cols if c not in ("ingested_at", "created_at", "scored_at")]
        sel = ", ".join(f'"{c}"' for c in cols)
        for side, x, y in (("only before", "b", "a"), ("only after", "a", "b")):
            q = f'SELECT {sel} FROM {x}."{t}" EXCEPT ALL SELECT {sel} FROM {y}."{t}"'
            n = con.execute(f"SELECT count(*) FROM ({q})").fetchone()[0]
            if not n:
                continue
            if "run_hash" in cols:
                groups = con.execute(f"SELECT run_hash, count(*) FROM ({q}) GROUP BY 1 ORDER BY 1").fetchall()
                sample = con.execute(f"SELECT * FROM ({q}) ORDER BY ALL LIMIT 5").fetchall()
                out.append(f"{t}: {n} rows {side}; by run_hash {groups}; sample {sample}")
            else:
                sample = con.execute(f"SELECT * FROM ({q}) LIMIT 5").fetchall()
                out.append(f"{t}: {n} rows {side}; sample {sample}")
        nb = con.execute(f'SELECT count(*) FROM b."{t}"').fetchone()[0]
        na = con.execute(f'SELECT count(*) FROM a."{t}"').fetchone()[0]
        if nb != na:
            out.append(f"{t}: count {nb} -> {na}")
    con.close()
    return out


def _sizes(db: Path) -> tuple[int, int]:
    wal = Path(str(db) + ".wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


def _wait(proc, db: Path, delay: float, started: float) -> None:
    """Until `delay` s after the start, or (negative) -delay s after the store first grows, or the process ends."""
    if delay < 0:
        sizes = _sizes(db)
        while proc.poll() is None and _sizes(db) == sizes and time.monotonic() - started < 60:
            time.sleep(0.0005)
        started, delay = time.monotonic(), -delay
    while proc.poll() is None and time.monotonic() - started < delay:
        time.sleep(0.001)


def trial(base: Path, run: Path, folder: Path, delay: float):
    shutil.rmtree(folder, ignore_errors=True)
    db = copy_store(base, folder / "s.duckdb")
    before = snapshot(db)
    shutil.copyfile(db, folder / "before.duckdb")
    started = time.monotonic()
    proc = popen_cli(db, "ingest", "-c", "base", run, "--name", "big")
    _wait(proc, db, delay, started)
    used = time.monotonic() - started
    if proc.poll() is not None:
        proc.communicate()
        return "finished", used, None
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    wal_after = Path(str(db) + ".wal").exists()
    problems = store_problems(db)
    after = snapshot(db)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    added = "added     big" in err
    expected, label = before, "unchanged"
    if proc.returncode == 0 and added and "interrupted" not in err:
        label = "finished-late"
        expected = None
    elif added or last.startswith(("interrupted while committing", "interrupted after committing")):
        label = "stored"
        con = duckdb.connect(str(db), read_only=True)
        got = con.execute("SELECT run_hash FROM runs WHERE collection = 'base' AND name = 'big'").fetchall()
        con.close()
        after = without_run(after, "big", got[0][0] if got else None)
    elif proc.returncode != 130:
        label = f"other-rc{proc.returncode}"
    wrong_line = False
    if label == "stored":
        wrong_line = (last != "interrupted; the store is unchanged by the unfinished operation") if added else \
            not last.startswith(("interrupted while committing run 'big'", "interrupted after committing run 'big'"))
        label = "stored-added" if added else ("stored-late-" + last.split()[1])
    if problems or wrong_line or (expected is not None and after != expected):
        (folder / "stderr.txt").write_text(err)
        changed = [t for t in before if before[t] != after.get(t)]
        info = {"label": label, "delay": used, "rc": proc.returncode, "changed_tables": changed,
                "problems": problems, "wal_after": wal_after, "stderr": err[-600:],
                "diff": diff(folder / "before.duckdb", db)}
        (folder / "mismatch.json").write_text(json.dumps(info, indent=1, default=str))
        return "MISMATCH", used, info
    shutil.rmtree(folder, ignore_errors=True)
    return label, used, None


def main():
    base, run = setup()
    rng = random.Random(SEED)
    counts: dict[str, int] = {}
    for i in range(N):
        delay = rng.uniform(LO, HI)
        outcome, used, info = trial(base, run, OUT / f"t{i}", delay)
        key = outcome.split(" ")[0]
        counts[key] = counts.get(key, 0) + 1
        if info:
            print(f"[{i}] MISMATCH at {used:.3f}s: {json.dumps(info, default=str)[:3000]}", flush=True)
        else:
            print(f"[{i}] {outcome} at {used:.3f}s", flush=True)
    print("COUNTS", counts, flush=True)


if __name__ == "__main__":
    main()
