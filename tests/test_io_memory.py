"""A process that reads a big run turns transparent huge pages off for itself (workbench/io/_memory.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

# PR_GET_THP_DISABLE (42) in a fresh interpreter, after reading the run given as argv[1] (or nothing). The setting
# is inherited: the child first turns huge pages back on (PR_SET_THP_DISABLE, 41), since this pytest process may
# have read a big run already.
_PROBE = """
import ctypes, sys
ctypes.CDLL(None).prctl(41, 0, 0, 0, 0)
from workbench.io.runs import read_run
if len(sys.argv) > 1:
    parsed = read_run(sys.argv[1])
    print(parsed.table.num_rows, end=" ")
print(ctypes.CDLL(None).prctl(42, 0, 0, 0, 0))
"""


def _probe(*args: Path) -> str:
    done = subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[1])
    return done.stdout.strip()


def _run_file(path: Path, lines: int) -> Path:
    with path.open("w") as fh:
        for q in range(lines // 1000):
            fh.writelines(f"q{q} Q0 doc{q}_{d:06d} {d + 1} {1000 - d}.25 a_run_tag_long_enough\n" for d in range(1000))
    return path


def test_a_big_run_turns_huge_pages_off_a_small_one_does_not(tmp_path):
    from workbench.io.runs import SMALL_RUN_BYTES

    big = _run_file(tmp_path / "big.txt", 200_000)
    small = _run_file(tmp_path / "small.txt", 2_000)
    assert big.stat().st_size >= SMALL_RUN_BYTES > small.stat().st_size
    assert _probe() == "0"
    assert _probe(small) == "2000 0"
    assert _probe(big) == "200000 1"  # and the rows are all there
