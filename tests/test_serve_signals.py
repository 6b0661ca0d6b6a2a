"""Issue 15: `workbench serve` passes SIGTERM and SIGINT on to the Streamlit server and leaves no listener.

A real `workbench serve` on a free port, a real Streamlit child answering HTTP; then the signal to `workbench`
alone (as a service manager or `kill` sends it): the command exits with 128 + the signal, the child process is
gone and the port is free.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from test_reliability_support import make_base_store, workbench_exe


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_base_store(tmp_path_factory.mktemp("base"))[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing listens (a connection is refused) and a new server may bind it (with SO_REUSEADDR, as servers do:
    the health checks' closed connections linger in TIME_WAIT)."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) != errno.ECONNREFUSED:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def wait_until_served(proc: subprocess.Popen, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the dashboard did not answer")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_passes_the_signal_on_and_leaves_no_listener(base, tmp_path, signum):
    db = tmp_path / "s.duckdb"
    shutil.copyfile(base, db)
    port = free_port()
    proc = subprocess.Popen([*workbench_exe(), "--db", str(db), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_until_served(proc, port)
        kids = children(proc.pid)
        assert len(kids) == 1 and alive(kids[0])
        os.kill(proc.pid, signum)  # to workbench alone, not to its process group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert not alive(kids[0])
    assert port_is_free(port)


def test_serve_refuses_a_missing_store_and_starts_nothing(tmp_path):
    db = tmp_path / "typo.duckdb"
    res = subprocess.run([*workbench_exe(), "--db", str(db), "serve", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.startswith(f"error: {db}: no store here") and len(res.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
