"""Runtime measures for the tests: plain pandas re-implementations of trec_eval measures, so the runtime scorer's
values can be checked against ir-measures' runtime provider and against the vectorised RR, P and NumRelRet."""

import ir_measures


def _first_relevant(qrels, run):
    """Reciprocal rank of the first document judged relevant (grade >= 1), 0 when none is retrieved."""
    relevant = set(qrels.loc[qrels["relevance"] >= 1, "doc_id"])
    for rank, doc in enumerate(run["doc_id"], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def _relevant_retrieved(qrels, run):
    relevant = set(qrels.loc[qrels["relevance"] >= 1, "doc_id"])
    return float(sum(doc in relevant for doc in run["doc_id"]))


def _retrieved(qrels, run):
    return float(len(run))


FirstRel = ir_measures.define_byquery(_first_relevant, name="FirstRel")
RelRet = ir_measures.define_byquery(_relevant_retrieved, name="RelRet")
Ranked = ir_measures.define_byquery(_retrieved, name="Ranked")
