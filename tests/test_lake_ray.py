"""Scoring and encoding on a real Ray cluster (issue 19 items 3, 4, 5): two nodes of one CPU each on this machine,
loopback only, no dashboard, started once for this file and stopped at its end.

Every command runs as a real CLI process joining the cluster with --ray-address; the local engine's answers
(the same CLI without --engine ray) are the reference, compared per query value by value.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SCIFACT
from lake_support import lake_problems, write_random_qrels, write_random_run
from test_reliability_support import cli_main, copy_store, popen_cli, run_cli

pytest.importorskip("ray")
pytest.importorskip("deltalake")

pytestmark = pytest.mark.slow


# ---- processes and sockets, read from /proc ------------------------------------------------------------------------


def children_of(root: int) -> dict[int, str]:
    """{pid: command line} of every process descending from `root`."""
    parent, cmd = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            cmd[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        for child, par in parent.items():
            if par == p and child not in out:
                out[child] = cmd[child]
                todo.append(child)
    return out


def listening_addresses(pids) -> set[str]:
    """The local addresses of the TCP sockets these processes listen on."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                hexaddr = fields[1].split(":")[0]
                raw = bytes.fromhex(hexaddr)
                if name == "tcp":
                    found.add(".".join(str(b) for b in raw[::-1]))
                else:
                    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
                    found.add(b"".join(words).hex())
    return found


# 127.0.0.1, ::1 and ::ffff:127.0.0.1 (IPv6 as listening_addresses spells them)
LOOPBACK = {"127.0.0.1", "00000000000000000000000000000001", "00000000000000000000ffff7f000001"}


@pytest.fixture(scope="module")
def cluster():
    """A two-node Ray cluster (1 CPU each) bound to 127.0.0.1, without dashboard; its address."""
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 200 * 1024 * 1024}
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        c.add_node(**node)
        yield c.address
    finally:
        c.shutdown()
        deadline = time.monotonic() + 30
        while any("raylet" in cmd or "gcs_server" in cmd for cmd in children_of(os.getpid()).values()):
            assert time.monotonic() < deadline, "the cluster's processes outlived its shutdown"
            time.sleep(0.5)


def test_the_cluster_is_two_nodes_on_loopback_without_dashboard(cluster):
    procs = children_of(os.getpid())
    assert sum("raylet/raylet" in cmd for cmd in procs.values()) == 2
    assert not any("dashboard.py" in cmd and "--disable-frontend" not in cmd for cmd in procs.values())
    addresses = listening_addresses(procs)
    assert addresses and addresses <= LOOPBACK, addresses


# ---- scoring ---------------------------------------------------------------------------------------------------------

MEASURES = ["P@10", "nDCG@20", "AP", "RR(rel=2)", "R@1000", "Judged@5", "NumRet", "ERR@20", "Bpref"]


def scores(res) -> dict:
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)  # stdout holds the JSON and nothing else: Ray wrote none of it


def test_ray_scores_the_dl20_runs_as_the_local_engine(cluster, dl20_store, tmp_path):
    store = copy_store(dl20_store, tmp_path / "dl20.duckdb")
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "dl20").returncode == 0
    ray = scores(run_cli(tmp_path / "x.duckdb", "evaluate", "-c", "dl20", "-m", *MEASURES, "--json", "--per-query",
                         "--engine", "ray", "--ray-address", cluster, "--lake", lake, "--block-rows", "20000",
                         timeout=900))
    local = scores(run_cli(store, "evaluate", "-c", "dl20", "-m", *MEASURES, "--json", "--per-query"))
    assert ray["scores"] == local["scores"]  # every per-query value, bit for bit
    assert ray["evaluators"] == local["evaluators"] and ray["computed"] == local["computed"] == 24 * len(MEASURES)
    assert ray["engine"]["engine"] == "ray" and ray["engine"]["nodes"] == 2 and ray["engine"]["units"] >= 8
    assert lake_problems(lake) == []
    again = scores(run_cli(tmp_path / "x.duckdb", "evaluate", "-c", "dl20", "-m", *MEASURES, "--json",
                           "--per-query", "--engine", "ray", "--ray-address", cluster, "--lake", lake))
    assert again["computed"] == 0 and again["scores"] == local["scores"]  # nothing is scored twice


QUERIES = [str(q) for q in range(5000, 5120)]


@pytest.fixture(scope="module")
def random_store(tmp_path_factory):
    """Tie-heavy random runs (one decimal), graded qrels with negative grades, judged queries some runs miss."""
    folder = tmp_path_factory.mktemp("random")
    db = folder / "random.duckdb"
    qrels = write_random_qrels(folder / "qrels.txt", QUERIES[:100], 60, seed=7)
    runs = [write_random_run(folder / f"t{i}.trec", QUERIES, 500, seed=100 + i, decimals=1) for i in range(6)]
    assert cli_main(db, "collection", "add", "random", "--qrels", qrels) == 0
    assert cli_main(db, "ingest", "-c", "random", *runs) == 0
    return db


def test_ray_scores_tie_heavy_runs_split_in_query_blocks_as_the_local_engine(cluster, random_store, tmp_path):
    store = copy_store(random_store, tmp_path / "random.duckdb")
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake).returncode == 0
    ray = scores(run_cli(tmp_path / "pulled.duckdb", "evaluate", "-c", "random", "-m", *MEASURES, "--json",
                         "--per-query", "--engine", "ray", "--ray-address", cluster, "--lake", lake,
                         "--block-rows", "12000", "--pull", timeout=900))
    local = scores(run_cli(store, "evaluate", "-c", "random", "-m", *MEASURES, "--json", "--per-query"))
    assert ray["scores"] == local["scores"]
    assert ray["engine"]["units"] >= 6 * 4  # each 54k-row run in query blocks of ~12k rows
    pulled = scores(run_cli(tmp_path / "pulled.duckdb", "evaluate", "-c", "random", "-m", *MEASURES, "--json",
                            "--per-query"))
    assert pulled["computed"] == 0 and pulled["scores"] == local["scores"]


def test_a_worker_killed_mid_job_is_retried_and_the_scores_are_complete(cluster, random_store, tmp_path):
    store = copy_store(random_store, tmp_path / "random.duckdb")
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake).returncode == 0
    slow = ["ERR@20", "Bpref", "nDCG@10", "AP"]  # two of them through ir-measures: units of a second or more
    proc = popen_cli(tmp_path / "x.duckdb", "evaluate", "-c", "random", "-m", *slow, "--json", "--per-query",
                     "--engine", "ray", "--ray-address", cluster, "--lake", lake, "--block-rows", "30000")
    killed = None
    deadline = time.monotonic() + 600
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        busy = [pid for pid, cmd in children_of(os.getpid()).items() if cmd.startswith("ray::") and "MapBatches" in cmd]
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            killed = busy[0]
        time.sleep(0.05)
    out, err = proc.communicate(timeout=900)
    assert killed is not None, "no worker was caught scoring; the job ended first"
    assert proc.returncode == 0, err[-2000:]
    local = scores(run_cli(store, "evaluate", "-c", "random", "-m", *slow, "--json", "--per-query"))
    assert json.loads(out)["scores"] == local["scores"]
    assert lake_problems(lake) == []


def test_ray_scores_a_measures_file_only_the_driver_was_given(cluster, random_store, tmp_path):
    """--custom-measures names a file on the driver's machine only: the workers score its measures from the bytes
    the shared registry carries (workbench.scoring.registry.Scorers), with the evaluator id the driver stores."""
    measures = tmp_path / "mine" / "trec_style.py"
    measures.parent.mkdir()
    measures.write_bytes((Path(__file__).parent / "data" / "measures" / "trec_style.py").read_bytes())
    store = copy_store(random_store, tmp_path / "random.duckdb")
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake).returncode == 0
    asked = ["FirstRel", "RelRet@100", "RR", "P@100"]
    ray = scores(run_cli(tmp_path / "x.duckdb", "evaluate", "-c", "random", "--custom-measures", measures,
                         "-m", *asked, "--json", "--per-query", "--engine", "ray", "--ray-address", cluster,
                         "--lake", lake, "--block-rows", "30000", timeout=900))
    local = scores(run_cli(store, "evaluate", "-c", "random", "--custom-measures", measures, "-m", *asked,
                           "--json", "--per-query"))
    assert ray["scores"] == local["scores"] and ray["evaluators"] == local["evaluators"]
    assert ray["evaluators"]["FirstRel"].startswith("workbench.runtime 0.1 (trec_style.py sha256:")
    assert ray["engine"]["nodes"] == 2
    value = {(s["run"], s["query_id"], s["measure"]): s["value"] for s in ray["scores"]}
    keys = [k for k in value if k[2] == "FirstRel"]
    assert len(keys) == 6 * 100  # every judged query of every run
    assert all(value[k] == value[(k[0], k[1], "RR")] for k in keys)  # trec_style.py's FirstRel re-implements RR
    assert all(value[(r, q, "RelRet@100")] == pytest.approx(100 * value[(r, q, "P@100")], abs=1e-9)
               for r, q, _ in keys)


# ---- encoding --------------------------------------------------------------------------------------------------------


def scifact_subset(folder: Path, n_docs: int = 300, n_queries: int = 20) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt") as f:
        docs = [next(f) for _ in range(n_docs)]
    qrels = (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()
    queries = list(dict.fromkeys(line.split("\t")[0] for line in qrels[1:]))[:n_queries]
    wanted = set(queries)
    topics = [line for line in (SCIFACT / "queries.jsonl").read_text().splitlines()
              if json.loads(line)["_id"] in wanted]
    files = {"docs": folder / "corpus.jsonl", "topics": folder / "queries.jsonl", "qrels": folder / "qrels.tsv"}
    files["docs"].write_text("".join(docs))
    files["topics"].write_text("\n".join(topics) + "\n")
    files["qrels"].write_text("\n".join([qrels[0], *[q for q in qrels[1:] if q.split("\t")[0] in wanted]]) + "\n")
    return files


@pytest.mark.retrieval
def test_dense_encoding_on_ray_gives_the_local_embeddings_and_run_file(cluster, tmp_path):
    files = scifact_subset(tmp_path / "inputs")
    cache = tmp_path / "cache"
    env = {"WORKBENCH_CACHE": str(cache)}
    outcomes = {}
    for engine in ("ray", "local"):
        db = tmp_path / f"{engine}.duckdb"
        assert cli_main(db, "collection", "add", "sub", "--qrels", files["qrels"], "--topics", files["topics"],
                        "--docs", files["docs"]) == 0
        extra = ["--engine", "ray", "--ray-address", cluster] if engine == "ray" else []
        res = run_cli(db, "retrieve", "dense", "-c", "sub", "--hits", "100", "--batch-size", "16", "--runs-dir",
                      tmp_path / f"runs-{engine}", "--json", *extra, env=env, timeout=900)
        assert res.returncode == 0, res.stderr[-2000:]
        json.loads(res.stdout)
        (npy,) = cache.rglob("docs-*.npy")
        outcomes[engine] = (np.load(npy), (tmp_path / f"runs-{engine}" / "sub" / "dense-minilm.trec").read_bytes())
        for p in cache.rglob("docs-*"):  # the next engine encodes again, into the same cache path
            p.unlink()
    (ray_emb, ray_run), (local_emb, local_run) = outcomes["ray"], outcomes["local"]
    assert ray_emb.shape == local_emb.shape == (300, 384)
    assert np.abs(ray_emb - local_emb).max() <= 1e-5
    assert ray_run == local_run
