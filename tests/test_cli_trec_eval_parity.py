"""trec_eval parity end to end: files ingested through the CLI, scored and read back from the store.

Same oracles as test_scoring_parity (trec_eval 10.0's own expected outputs), but through `collection add`,
`ingest` (results.test: tabs, padded scores, rank column not in score order; results.trunc: judged query 302
missing, trailing text after the 6th field) and `evaluate --json`, so the store, the cache keys and the
aggregation are covered too.
"""

from __future__ import annotations

import pytest
from conftest import TREC_EVAL
from test_scoring_parity import CASES, printed, read_expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_store_reproduces_trec_eval_per_query(cli, case):
    qrels_file, run_file, out_file, rel = CASES[case]
    from workbench.scoring import measure_name

    # the store keys scores by ir-measures' canonical spelling (IPrec@0.00 is stored as IPrec@0.0)
    expected = {measure_name(m): v for m, v in read_expected(TREC_EVAL / out_file, rel).items()}
    measures = sorted(expected)
    assert cli("collection", "add", "te", "--qrels", TREC_EVAL / qrels_file).code == 0
    res = cli("ingest", "-c", "te", TREC_EVAL / run_file, "--name", "run", "--allow-trailing-fields", "--json")
    assert res.code == 0, res.err
    per_query = cli("evaluate", "-c", "te", "--measures", *measures, "--per-query", "--json").json()
    means = cli("evaluate", "-c", "te", "--measures", *measures, "--json").json()
    assert means["computed"] == 0  # the per-query call stored everything; the second call only reads
    got = {(s["measure"], s["query_id"]): s["value"] for s in per_query["scores"] + means["scores"]}
    mismatches = [
        (m, qid, want, printed(m, got[(m, qid)]) if (m, qid) in got else None)
        for m in measures
        for qid, want in expected[m].items()
        if (m, qid) not in got or printed(m, got[(m, qid)]) != want
    ]
    assert len(measures) >= 60 and not mismatches
