#!/usr/bin/env python3
# Provenance: copied unchanged (but for this comment) from the project's shared benchmark folder
# (shared/bench/gen_data.py, the workload the README's anchor timings were measured on) so that the
# repository can regenerate its benchmark data on its own. bench/run.py calls it; data goes to bench-data/.
# ruff: noqa: B905
"""Deterministic synthetic IR-evaluation workload: graded qrels + TREC run files.

Output layout (under --out):
    qrels.txt            TREC qrels: "qid 0 docid grade", grades 0..3
    runs/run_NN.txt      TREC run:   "qid Q0 docid rank score tag", `depth` lines per query
    manifest.json        parameters, per-run quality / tie flag, line counts, sha256 (opt.)

Model (all randomness from one numpy PCG64 SeedSequence, so the same arguments
and numpy version always give byte-identical files; run i does not depend on
how many runs are generated):
  * queries: distinct integer qids (MS MARCO style), written in ascending order.
  * docids: integers drawn from a corpus of --corpus-size ids (MS MARCO passage
    has 8,841,823), so docids are numeric strings of varying width -- this matters
    for trec_eval's string (strcmp) docid tie-breaking.
  * qrels: per query a log-normal number of judgments (mean ~ --judged-mean),
    a per-query relevant fraction ~ Beta(2,3), relevant grades 1/2/3 with
    probabilities .39/.43/.18 -- overall roughly 60% grade 0, 16% g1, 17% g2,
    7% g3, which is the shape of TREC DL 2019/2020 passage qrels. Every query has
    at least one document of grade >= 2 (so -l 2 measures are defined too).
  * runs: run i has a quality q_i spread linearly over [--qmin, --qmax]; each
    query has a difficulty factor shared by all runs. A judged doc of grade g is
    retrieved with probability clip(.35 + .15 q + .10 g) and gets latent score
    .8 q g + .6 + N(0,1); `depth` random unjudged docs get N(0,1). The top
    `depth` by latent score are written with rank 1..depth and score 12 + 3*latent.
  * ties: every --tie-every-th run (0 = none) writes scores with
    --tie-decimals decimals, so many scores tie; rank/file order among tied
    docs is the latent order, which differs from trec_eval's (score desc, docid
    desc) order -- this exposes tools' tie-breaking.

Examples:
    gen_data.py --preset msmarco-dev --out data/msmarco   # 6,980 q x 1000, 1 run
    gen_data.py --preset dl --out data/dl                  # 43 q x 1000, 20 runs
    gen_data.py --queries 200 --depth 100 --runs 3 --out data/x        # custom
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

PRESETS = {
    # MS MARCO passage dev (small) scale: 6,980 queries x 1,000 = 6.98M lines per run.
    "msmarco-dev": dict(queries=6980, depth=1000, runs=1, judged_mean=50, tie_every=0),
    # TREC DL 2019 passage scale: 43 queries x 1,000, 20 runs; every 5th run tie-heavy.
    "dl": dict(queries=43, depth=1000, runs=20, judged_mean=50, tie_every=5),
}

GRADE_P = np.array([0.39, 0.43, 0.18])  # P(grade = 1, 2, 3 | relevant)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="defaults for the size knobs below")
    p.add_argument("--queries", type=int, help="number of queries (default 43)")
    p.add_argument("--depth", type=int, help="docs per query per run (default 1000)")
    p.add_argument("--runs", type=int, help="number of run files (default 1)")
    p.add_argument("--judged-mean", type=float, help="mean judgments per query (default 50)")
    p.add_argument("--tie-every", type=int, help="every k-th run has coarse (tied) scores; 0 = none")
    p.add_argument("--tie-decimals", type=int, default=2, help="decimals of tie-heavy runs' scores (default 2)")
    p.add_argument("--score-decimals", type=int, default=6, help="decimals of normal runs' scores (default 6)")
    p.add_argument("--qmin", type=float, default=0.4, help="quality of the worst run")
    p.add_argument("--qmax", type=float, default=2.2, help="quality of the best run")
    p.add_argument("--corpus-size", type=int, default=8_841_823, help="docid range (MS MARCO passage)")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--checksums", action="store_true", help="record sha256 of every file in manifest.json")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    base = dict(queries=43, depth=1000, runs=1, judged_mean=50, tie_every=0)
    if a.preset:
        base.update(PRESETS[a.preset])
    for k, v in base.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.queries < 1 or a.depth < 1 or a.runs < 1:
        p.error("--queries, --depth and --runs must be >= 1")
    return a


def make_qrels(rng: np.random.Generator, n_queries: int, judged_mean: float, corpus_size: int):
    """Return (qids[str], list of (docids[int64], grades[int8]) per query)."""
    qids = np.sort(rng.choice(1_200_000, size=n_queries, replace=False) + 2)
    sigma = 0.6
    counts = rng.lognormal(np.log(judged_mean) - sigma**2 / 2, sigma, size=n_queries)
    counts = np.clip(np.rint(counts), 5, int(10 * judged_mean)).astype(np.int64)
    rel_frac = rng.beta(2.0, 3.0, size=n_queries)
    per_q = []
    for i in range(n_queries):
        n = int(counts[i])
        docs = np.unique(rng.integers(0, corpus_size, size=n + 8))
        docs = rng.permutation(docs)[:n]
        is_rel = rng.random(n) < rel_frac[i]
        grades = np.where(is_rel, rng.choice(3, size=n, p=GRADE_P) + 1, 0).astype(np.int8)
        if not (grades >= 2).any():
            grades[rng.integers(0, n)] = 2
        per_q.append((docs.astype(np.int64), grades))
    return [str(q) for q in qids], per_q


def make_run(rng, qrels_per_q, depth, quality, difficulty, corpus_size):
    """Yield (docids[int64], latent[float64]) per query, sorted by latent desc, len == depth."""
    for (jdocs, grades), diff in zip(qrels_per_q, difficulty):
        q = quality * diff * rng.lognormal(0.0, 0.25)  # run x query interaction
        p_ret = np.clip(0.35 + 0.15 * q + 0.10 * grades, 0.0, 0.97)
        take = rng.random(len(jdocs)) < p_ret
        rj = jdocs[take]
        rs = 0.8 * q * grades[take] + 0.6 + rng.standard_normal(int(take.sum()))
        # `depth` random unjudged docs (distinct, not in the judged set)
        fill = np.empty(0, dtype=np.int64)
        while fill.size < depth:
            cand = np.unique(np.concatenate([fill, rng.integers(0, corpus_size, size=depth + 64)]))
            fill = cand[~np.isin(cand, jdocs)]
        fill = rng.permutation(fill)[:depth]
        fs = rng.standard_normal(depth)
        docs = np.concatenate([rj, fill])
        lat = np.concatenate([rs, fs])
        order = np.argsort(-lat, kind="stable")[:depth]
        yield docs[order], lat[order]


def write_run(path, qids, per_query, tag, decimals):
    fmt_score = f"{{:.{decimals}f}}".format
    lines = 0
    with open(path, "w", buffering=1 << 22) as f:
        for qid, (docs, lat) in zip(qids, per_query):
            scores = 12.0 + 3.0 * lat
            if decimals <= 3:  # round first so equal printed scores are equal floats
                scores = np.round(scores, decimals)
            pre = qid + " Q0 "
            post = " " + tag + "\n"
            f.write("".join([
                pre + str(d) + " " + str(r) + " " + fmt_score(s) + post
                for r, (d, s) in enumerate(zip(docs.tolist(), scores.tolist()), 1)
            ]))
            lines += len(docs)
    return lines


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def main(argv=None):
    a = parse_args(argv)
    t0 = time.perf_counter()
    os.makedirs(os.path.join(a.out, "runs"), exist_ok=True)
    ss = np.random.SeedSequence(a.seed)
    s_qrels, s_diff, s_runs = ss.spawn(3)
    rng_q = np.random.Generator(np.random.PCG64(s_qrels))
    qids, qrels_per_q = make_qrels(rng_q, a.queries, a.judged_mean, a.corpus_size)

    qrels_path = os.path.join(a.out, "qrels.txt")
    n_judg = 0
    grade_counts = np.zeros(4, dtype=np.int64)
    with open(qrels_path, "w") as f:
        for qid, (docs, grades) in zip(qids, qrels_per_q):
            f.write("".join(f"{qid} 0 {d} {g}\n" for d, g in zip(docs.tolist(), grades.tolist())))
            n_judg += len(docs)
            grade_counts += np.bincount(grades, minlength=4)

    difficulty = np.random.Generator(np.random.PCG64(s_diff)).lognormal(0.0, 0.4, size=a.queries)
    run_seeds = s_runs.spawn(a.runs)
    runs_meta = []
    for i in range(a.runs):
        quality = a.qmin + (a.qmax - a.qmin) * (i / (a.runs - 1) if a.runs > 1 else 0.5)
        tied = a.tie_every > 0 and (i % a.tie_every == a.tie_every - 1)
        decimals = a.tie_decimals if tied else a.score_decimals
        tag = f"run{i:02d}"
        path = os.path.join(a.out, "runs", f"run_{i:02d}.txt")
        rng = np.random.Generator(np.random.PCG64(run_seeds[i]))
        n = write_run(path, qids, make_run(rng, qrels_per_q, a.depth, quality, difficulty, a.corpus_size),
                      tag, decimals)
        meta = dict(file=os.path.relpath(path, a.out), tag=tag, quality=round(quality, 4),
                    score_decimals=decimals, tie_heavy=tied, lines=n, bytes=os.path.getsize(path))
        if a.checksums:
            meta["sha256"] = sha256(path)
        runs_meta.append(meta)
        if not a.quiet:
            print(f"[gen] {meta['file']}: {n:,} lines, {meta['bytes'] / 1e6:.1f} MB, q={quality:.2f}"
                  f"{' (tie-heavy)' if tied else ''}  t={time.perf_counter() - t0:.1f}s", file=sys.stderr)

    manifest = dict(
        generator="gen_data.py", numpy=np.__version__,
        params={k: getattr(a, k) for k in ("preset", "queries", "depth", "runs", "judged_mean", "tie_every",
                                           "tie_decimals", "score_decimals", "qmin", "qmax", "corpus_size", "seed")},
        qrels=dict(file="qrels.txt", judgments=n_judg, per_query_mean=round(n_judg / a.queries, 2),
                   grade_counts={str(g): int(c) for g, c in enumerate(grade_counts)},
                   **({"sha256": sha256(qrels_path)} if a.checksums else {})),
        runs=runs_meta,
    )
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    if not a.quiet:
        print(f"[gen] qrels: {n_judg:,} judgments, grades {manifest['qrels']['grade_counts']}; "
              f"done in {time.perf_counter() - t0:.1f}s -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
