"""Issue 18 items 1 (Page) and 4: the dashboard's pages registered once, and `workbench serve` from an installed wheel.

The wheel test builds the package from a copy of the sources, installs it into a fresh virtualenv outside the
checkout (its dependencies are the ones this interpreter has, seen through a .pth file, so nothing is downloaded),
stores two runs with the installed CLI, serves them with the installed `workbench serve` and renders every page
over Streamlit's own websocket protocol, as a browser would: the leaderboard's table must hold trec_eval's nDCG@10,
computed here by hand.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import site
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

from workbench.app.pages import PAGES, page_named
from workbench.app.serve import OPTIONS, SCRIPT, command_options


def test_the_page_registry_is_consistent():
    """One entry per page: names, paths and titles unique, every script found, every script in the pages folder
    registered (a page file nobody registered is unreachable)."""
    assert len({p.name for p in PAGES}) == len({p.url_path for p in PAGES}) == len({p.title for p in PAGES}) \
        == len(PAGES)
    assert all(re.fullmatch(r"[a-z0-9-]+", p.url_path) for p in PAGES)  # "" is the root's, never a page's own
    assert all(re.fullmatch(r":material/[a-z0-9_]+:", p.icon) for p in PAGES)
    folder = ROOT / "workbench" / "app" / "pages"
    assert {p.script.resolve() for p in PAGES} == {f.resolve() for f in folder.glob("[!_]*.py")}
    assert [p.name for p in PAGES if p.reads_only] == ["per_query", "drilldown", "depth"]
    assert page_named("per_query").url_path == "per-query"
    with pytest.raises(KeyError, match="no dashboard page 'nope'"):
        page_named("nope")


def test_serve_passes_the_checkout_config_on_the_command_line():
    """An installed wheel has no .streamlit/config.toml: `workbench serve` passes the same settings as options."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert {f"{section}.{key}": value for section, table in config.items() for key, value in table.items()} == OPTIONS
    args = command_options({"server.port": 8765, "server.address": "::1"})
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--server.port"] == "8765" and pairs["--server.address"] == "::1"
    assert pairs["--server.headless"] == "true" and pairs["--browser.gatherUsageStats"] == "false"
    assert len(pairs) == len(OPTIONS) + 1


def test_the_served_script_has_a_folder_of_its_own():
    """Streamlit puts the script's folder first on sys.path: nothing but the script may be importable from it."""
    assert SCRIPT.is_file()
    assert sorted(p.name for p in SCRIPT.parent.iterdir() if p.name != "__pycache__") == ["__init__.py",
                                                                                          "dashboard.py"]


# ------------------------------------------------------------------------------------------------ the wheel
QRELS = "1 0 d1 2\n1 0 d2 0\n1 0 d3 1\n2 0 d4 1\n2 0 d5 0\n"
RUNS = {"run-a": "1 Q0 d1 1 3.0 a\n1 Q0 d2 2 2.0 a\n1 Q0 d3 3 1.0 a\n2 Q0 d5 1 2.0 a\n2 Q0 d4 2 1.0 a\n",
        "run-b": "1 Q0 d3 1 3.0 b\n1 Q0 d2 2 2.0 b\n1 Q0 d1 3 1.0 b\n2 Q0 d4 1 2.0 b\n2 Q0 d5 2 1.0 b\n"}


def ndcg10() -> dict[str, float]:
    """trec_eval's ndcg_cut.10 by hand: gain = grade, discount log2(rank + 1), ideal from the qrels."""
    ideal = {"1": 2 + 1 / math.log2(3), "2": 1.0}
    dcg = {"run-a": {"1": 2 + 1 / math.log2(4), "2": 1 / math.log2(3)},
           "run-b": {"1": 1 + 2 / math.log2(4), "2": 1.0}}
    return {run: sum(d[q] / ideal[q] for q in ideal) / len(ideal) for run, d in dcg.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kwargs)
    assert res.returncode == 0, (cmd, res.stdout[-2000:], res.stderr[-2000:])
    return res


def render(port: int, page: str) -> list:
    """The elements a browser session is sent for `page` (its url path; "" is the root), in order."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async def session() -> list:
        elements = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=None) as ws:
            back = BackMsg()
            back.rerun_script.page_name = page
            await ws.send(back.SerializeToString())
            while True:
                msg = ForwardMsg()
                msg.ParseFromString(await asyncio.wait_for(ws.recv(), 120))
                kind = msg.WhichOneof("type")
                assert kind != "page_not_found", page
                if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    elements.append(msg.delta.new_element)
                if kind == "script_finished":
                    return elements

    return asyncio.run(session())


def of(elements: list, kind: str) -> list:
    return [getattr(e, kind) for e in elements if e.WhichOneof("type") == kind]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_serve_from_an_installed_wheel(tmp_path):
    import pyarrow as pa

    assert not tmp_path.is_relative_to(ROOT)
    # the wheel, built from a copy of the sources (a build in the checkout would leave build/ and egg-info there)
    src = tmp_path / "src"
    shutil.copytree(ROOT / "workbench", src / "workbench", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", tmp_path / "dist", src])
    [wheel] = (tmp_path / "dist").glob("workbench-*.whl")
    # a fresh virtualenv that sees this interpreter's packages (the dependencies) after its own, and no PYTHONPATH
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBENCH_DB", "VIRTUAL_ENV")}
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=env)
                   .stdout.strip())
    (purelib / "shared-dependencies.pth").write_text("".join(f"{p}\n" for p in site.getsitepackages()))
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel], env=env)
    here = tmp_path / "elsewhere"  # the user's folder: neither the checkout nor the package
    here.mkdir()
    where = run([python, "-c", "import workbench; print(workbench.__file__)"], env=env, cwd=here).stdout.strip()
    assert Path(where).is_relative_to(purelib), where
    # a store, written by the installed CLI
    workbench = venv / "bin" / "workbench"
    (here / "qrels.txt").write_text(QRELS)
    for name, text in RUNS.items():
        (here / f"{name}.trec").write_text(text)
    db = here / "store.duckdb"
    run([workbench, "--db", db, "collection", "add", "tiny", "--qrels", "qrels.txt"], env=env, cwd=here)
    run([workbench, "--db", db, "ingest", "-c", "tiny", "run-a.trec", "run-b.trec"], env=env, cwd=here)
    run([workbench, "--db", db, "evaluate", "-c", "tiny", "-m", "nDCG@10"], env=env, cwd=here)
    # served by the installed `workbench serve`
    port = free_port()
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([str(workbench), "--db", str(db), "serve", "--port", str(port)], env=env, cwd=here,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read() == b"ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        [child] = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        assert any(Path(a.decode()).is_relative_to(purelib) and a.endswith(b"dashboard.py") for a in argv), argv
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/leaderboard", timeout=10) as r:
            assert r.status == 200 and b'id="root"' in r.read()  # the page's shell; its content comes next
        for path in ("", "leaderboard"):
            elements = render(port, path)
            assert [h.body for h in of(elements, "heading") if h.tag == "h1"] == ["Leaderboard"]
            assert not of(elements, "exception"), [e.message for e in of(elements, "exception")]
            [table] = [pa.ipc.open_stream(d.arrow_data.data).read_all() for d in of(elements, "dataframe")]
            rows = {r["run"]: r["nDCG@10"] for r in table.to_pylist()}
            expected = ndcg10()
            assert expected == pytest.approx({"run-a": 0.790582, "run-b": 0.880094}, abs=1e-6)
            assert {name: value.split()[0] for name, value in rows.items()} == \
                {name: f"{value:.4f}" for name, value in expected.items()}
        for page in PAGES:  # every page's script is in the wheel and runs from it
            elements = render(port, page.url_path)
            assert [h.body for h in of(elements, "heading") if h.tag == "h1"] == [page.title], page.name
            assert not of(elements, "exception"), (page.name, [e.message for e in of(elements, "exception")])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + 15, (tmp_path / "serve.log").read_text()
