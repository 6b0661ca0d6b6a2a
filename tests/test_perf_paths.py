"""The speed paths give the answers of the paths they shortcut (issue 6)."""

from __future__ import annotations

import random

import pyarrow as pa

from workbench.io import validate
from workbench.model import RUN_SCHEMA


def _random_run(rng: random.Random) -> pa.Table:
    rows = []
    for q in range(rng.randint(1, 6)):
        n = rng.randint(1, 30)
        docs = rng.sample(range(100), n)
        scores = sorted((rng.choice([1.0, 2.0, 2.5, 3.0, rng.random()]) for _ in range(n)), reverse=True)
        ranks = list(range(1, n + 1))
        if rng.random() < 0.3:
            rng.shuffle(ranks)
        if rng.random() < 0.2:
            ranks = [1] * n
        rows += [(f"q{q}", f"d{d}", s, r) for d, s, r in zip(docs, scores, ranks, strict=True)]
    if rng.random() < 0.2:
        rng.shuffle(rows)  # not grouped/sorted: the numpy path must step aside
    cols = list(zip(*rows, strict=True))
    return pa.table(dict(zip(RUN_SCHEMA.names, cols, strict=True)), schema=RUN_SCHEMA)


def test_sorted_run_warnings_equal_the_sql_ones(monkeypatch):
    monkeypatch.setattr(validate, "CUTOFFS", (1, 2, 5, 10, 20))  # small runs reach these cutoffs
    rng = random.Random(6)
    fast_used = 0
    for _ in range(400):
        table = _random_run(rng)
        fast = validate._format_warnings_sorted(table)
        if fast is not None:
            fast_used += 1
            assert fast == validate._format_warnings_sql(table)
    assert fast_used > 100


def test_ingest_with_measures_stores_what_evaluate_computes(cli, tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 d{d} {(d * q) % 3}\n" for q in (1, 2, 3) for d in range(8)))
    runs = []
    for i in range(3):
        path = tmp_path / f"r{i}.trec"
        rng = random.Random(i)
        lines = []
        for q in (1, 2, 4):
            docs = rng.sample(range(12), 10)
            lines += [f"{q} Q0 d{d} {k + 1} {round(10 - k * 0.5 - (k % 3 == 0) * 0.5, 1)} t{i}\n"
                      for k, d in enumerate(docs)]
        path.write_text("".join(lines))
        runs.append(path)
    assert cli("collection", "add", "c", "--qrels", qrels).code == 0
    got = cli("ingest", "-c", "c", *runs, "-m", "nDCG@10", "AP", "P@5", "--json").json()
    assert [r["status"] for r in got] == ["added"] * 3
    ev = cli("evaluate", "-c", "c", "-m", "nDCG@10", "AP", "P@5", "--json").json()
    assert ev["computed"] == 0  # ingest stored every per-query value evaluate needs
    agg = {(s["run"], s["measure"]): s["value"] for s in ev["scores"]}
    for r in got:
        for m, v in r["scores"].items():
            assert abs(agg[(r["run"], m)] - v) < 1e-12
    # the same files again: unchanged, scores read back (nothing parsed, nothing recomputed)
    again = cli("ingest", "-c", "c", *runs, "-m", "nDCG@10", "P@10", "--json").json()
    assert [r["status"] for r in again] == ["unchanged"] * 3
    assert all(set(r["scores"]) == {"nDCG@10", "P@10"} for r in again)
