"""trec_eval parity: our scores printed like trec_eval must equal trec_eval 10.0's own expected outputs.

Oracles: tests/data/trec_eval/out.test.aq (-q), out.test.aqc (-q -c, judged queries missing from the run),
out.test.aql (-q -l2, graded qrels with negative levels), runs/dl20/RUNS.tsv (trec_eval nDCG@10 of 24 runs).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import ir_measures
import numpy as np
import pyarrow as pa
import pytest

from workbench.scoring import aggregate, evaluate, fallback, fast
from workbench.scoring.measures import parse_measures

ROOT = Path(__file__).resolve().parents[1]
TE = ROOT / "tests" / "data" / "trec_eval"
DL20 = ROOT / "runs" / "dl20"
DL20_QRELS = ROOT / "data" / "trec-dl-2020" / "qrels.dl20-passage.txt"


def read_run(path: Path) -> pa.Table:
    q, d, s, r = [], [], [], []
    for line in path.read_text().splitlines():
        f = line.split()
        if f:
            q.append(f[0])
            d.append(f[2])
            r.append(int(f[3]))
            s.append(float(f[4]))
    return pa.table({"query_id": q, "doc_id": d, "score": pa.array(s, pa.float64()), "rank": r})


def read_qrels(path: Path) -> pa.Table:
    q, d, g = [], [], []
    for line in path.read_text().splitlines():
        f = line.split()
        if f:
            q.append(f[0])
            d.append(f[2])
            g.append(int(f[3]))
    return pa.table({"query_id": q, "doc_id": d, "relevance": pa.array(g, pa.int64())})


def trec_name_to_measure(name: str, rel: int) -> str | None:
    """ir-measures spelling of a trec_eval measure name under -l `rel`; None if ir-measures has no equivalent."""
    r = "" if rel == 1 else f"(rel={rel})"
    fixed = {
        "num_ret": "NumRet",
        "num_rel": f"NumRel{r}",
        "num_rel_ret": f"NumRet(rel={rel})",
        "num_q": "NumQ",
        "map": f"AP{r}",
        "Rprec": f"Rprec{r}",
        "bpref": f"Bpref{r}",
        "recip_rank": f"RR{r}",
        "infAP": f"infAP{r}",
        "ndcg": "nDCG",
        "set_P": f"SetP{r}",
        "set_relative_P": f"SetP(rel={rel},relative=True)",
        "set_recall": f"SetR{r}",
        "set_map": f"SetAP{r}",
        "set_F": f"SetF{r}",
    }
    if name in fixed:
        return fixed[name]
    patterns = [
        (r"P_(\d+)", "P{r}@{}"),
        (r"recall_(\d+)", "R{r}@{}"),
        (r"success_(\d+)", "Success{r}@{}"),
        (r"ndcg_cut_(\d+)", "nDCG@{}"),
        (r"map_cut_(\d+)", "AP{r}@{}"),
        (r"iprec_at_recall_([\d.]+)", "IPrec{r}@{}"),
    ]
    for pat, fmt in patterns:
        m = re.fullmatch(pat, name)
        if m:
            return fmt.replace("{r}", r).format(m.group(1))
    return None


def read_expected(path: Path, rel: int) -> dict[str, dict[str, str]]:
    """{measure: {query_id or 'all': printed value}} for every measure ir-measures can express."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        name, qid, value = (x.strip() for x in line.split("\t"))
        m = trec_name_to_measure(name, rel)
        if m is not None:  # keyed by ir-measures' canonical spelling (IPrec@0.10 is IPrec@0.1)
            out[str(parse_measures([m])[0])][qid] = value
    return out


def printed(measure: str, value: float) -> str:
    """trec_eval's formatting: counts as integers, everything else %.4f."""
    if measure.startswith(("NumRet", "NumRel", "NumQ")):
        return str(round(value))
    return f"{value:.4f}"


CASES = {
    "aq": ("qrels.test", "results.test", "out.test.aq", 1),
    "aqc": ("qrels.test", "results.trunc", "out.test.aqc", 1),
    "aql": ("qrels.rel_level", "results.test", "out.test.aql", 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trec_eval_fixture_parity(case: str) -> None:
    qrels_file, run_file, out_file, rel = CASES[case]
    expected = read_expected(TE / out_file, rel)
    measures = parse_measures(sorted(expected))
    assert len(measures) >= 60  # the bulk of all_trec is expressible
    scores = evaluate(read_run(TE / run_file), read_qrels(TE / qrels_file), measures)
    got: dict[str, dict[str, float]] = defaultdict(dict)
    for row in scores.to_pylist():
        got[row["measure"]][row["query_id"]] = row["value"]
    means = aggregate(scores)
    mismatches = []
    for m in measures:
        name = str(m)
        assert "all" in expected[name], name  # no measure is compared against nothing
        for qid, want in expected[name].items():
            value = means[name] if qid == "all" else got[name].get(qid)
            have = None if value is None else printed(name, value)
            if have != want:
                mismatches.append((name, qid, want, have))
    assert not mismatches
    # every judged query gets a row per measure, -c style (302 is missing from results.trunc)
    assert set(scores["query_id"].to_pylist()) == {"301", "302", "303"}


def test_missing_query_values_follow_trec_eval_c() -> None:
    scores = evaluate(
        read_run(TE / "results.trunc"), read_qrels(TE / "qrels.test"), ["NumRel", "NumRet", "AP", "nDCG@10"]
    )
    rows = {r["measure"]: r["value"] for r in scores.to_pylist() if r["query_id"] == "302"}
    assert rows == {"NumRel": 77.0, "NumRet": 0.0, "AP": 0.0, "nDCG@10": 0.0}


def dl20_runs() -> list[tuple[str, str]]:
    with open(DL20 / "RUNS.tsv", newline="") as f:
        return [(r["file"], r["ndcg_cut_10_trec_eval"]) for r in csv.DictReader(f, delimiter="\t")]


@pytest.fixture(scope="module")
def dl20_qrels() -> pa.Table:
    return read_qrels(DL20_QRELS)


def test_dl20_has_all_24_runs() -> None:
    runs = dl20_runs()
    assert len(runs) == 24
    assert dict(runs)["bm25.trec"] == "0.4796"


@pytest.mark.parametrize(("file", "want"), dl20_runs())
def test_dl20_ndcg10_matches_trec_eval(file: str, want: str, dl20_qrels: pa.Table) -> None:
    run = read_run(DL20 / file)
    scores = evaluate(run, dl20_qrels, ["nDCG@10", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@1000"])
    means = aggregate(scores)
    assert f"{means['nDCG@10']:.4f}" == want

    # per query, fast == the ir-measures/pytrec_eval reference path, exactly
    ms = parse_measures(["nDCG@10", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@1000"])
    a = fast.evaluate(run, dl20_qrels, ms)
    b = fallback.evaluate(run, dl20_qrels, ms)
    assert a["query_id"].equals(b["query_id"]) and a["measure"].equals(b["measure"])
    assert np.array_equal(a["value"].to_numpy(), b["value"].to_numpy())

    # and == pytrec_eval fed the raw scores (its own tie-breaking), independent of our ordering code
    qd = fallback.qrels_dict(dl20_qrels)
    rd: dict[str, dict[str, float]] = defaultdict(dict)
    for q, d, s in zip(*(run[c].to_pylist() for c in ("query_id", "doc_id", "score")), strict=True):
        rd[q][d] = s
    raw = {
        (m.query_id, str(m.measure)): m.value
        for m in ir_measures.pytrec_eval.iter_calc(parse_measures(["AP(rel=2)", "R(rel=2)@1000", "RR(rel=2)"]), qd, rd)
    }
    ours = {(r["query_id"], r["measure"]): r["value"] for r in a.to_pylist()}
    for q in qd:
        assert ours[(q, "AP(rel=2)")] == pytest.approx(raw[(q, "AP(rel=2)")], abs=1e-12)
        assert ours[(q, "R(rel=2)@1000")] == pytest.approx(raw[(q, "R(rel=2)@1000")], abs=1e-12)
        rr = raw[(q, "RR(rel=2)")]
        assert ours[(q, "RR(rel=2)@10")] == pytest.approx(rr if rr >= 0.1 else 0.0, abs=1e-12)


def test_dl20_reranked_runs_have_ties() -> None:
    """The DL runs exercise tie-breaking: at least one run has tied scores within a query."""
    tied = 0
    for file, _ in dl20_runs():
        run = read_run(DL20 / file)
        pairs = set(zip(run["query_id"].to_pylist(), run["score"].to_pylist(), strict=True))
        tied += len(pairs) < run.num_rows
    assert tied > 0


def test_iprec_grouped_equals_separate_runs() -> None:
    """The trec_eval 10 IPrec path scores a depth-style group column like separate runs."""
    run, qrels = read_run(TE / "results.test"), read_qrels(TE / "qrels.test")
    ms = ["IPrec@0.1", "IPrec(rel=1)@0.6", "IPrec@0.0"]
    single = evaluate(run, qrels, ms).to_pylist()
    both = pa.concat_tables([run.append_column("g", pa.array([g] * run.num_rows, pa.int64())) for g in (1, 2)])
    grouped = evaluate(both, qrels, ms, group="g").to_pylist()
    for g in (1, 2):
        rows = [{k: v for k, v in r.items() if k != "g"} for r in grouped if r["g"] == g]
        assert rows == single
