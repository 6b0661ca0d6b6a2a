"""What a collection's judgments and topics say about themselves, and what is off with them.

Scoring is only as right as its inputs: a topic file numbered differently from the qrels (Cranfield's query file
counts 1, 2, 4, 8, ... where its qrels count 1, 2, 3, ...) gives MAP 0.009 without an error, and a grade scale
where 1 is the best grade (Cranfield again) makes nDCG reward the least relevant documents. The report states
the counts a researcher checks by hand, and its warnings say what looks wrong; both are stored with the
collection and shown wherever it is scored.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import WorkbenchError
from workbench.model import QRELS_SCHEMA

COVERAGE = 0.9
"""Below this share of judged queries with a topic (or of topics with judgments) the report warns."""
EXAMPLES = 5
KEPT_EXAMPLES = 20
"""Ids kept in the stored report of each side's unmatched queries (the counts are exact)."""
_PAIR = re.compile(r"^\s*([+-]?\d+)\s*:\s*([+-]?\d+)\s*$")


def _natural(ids: list[str]) -> list[str]:
    """Ids in the order a reader expects: numbers by value, then the rest as strings."""
    return sorted(ids, key=lambda q: (0, int(q), q) if q.isdigit() else (1, 0, q))


def _examples(ids: tuple[str, ...] | list[str], n: int | None = None) -> str:
    return ", ".join(ids[:EXAMPLES]) + (", ..." if (len(ids) if n is None else n) > EXAMPLES else "")


def _spread(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0, "median": 0, "max": 0}
    median = float(np.median(values))
    return {"min": int(values.min()), "median": int(median) if median.is_integer() else median,
            "max": int(values.max())}


@dataclass(frozen=True)
class CollectionReport:
    """Topics vs judged queries, judgments per query, the grade histogram and the warnings drawn from them."""

    n_judged: int
    n_judgments: int
    n_topics: int | None  # None: the collection has no topics
    both: int
    only_topics: int  # topics without judgments
    only_qrels: int  # judged queries without a topic
    only_topics_examples: tuple[str, ...]  # the first KEPT_EXAMPLES of them, in natural order
    only_qrels_examples: tuple[str, ...]
    judgments_per_query: dict[str, float]
    relevant_per_query: dict[str, float]  # judgments with a grade > 0
    grades: dict[int, int]  # grade as stored -> judgments
    grades_as_written: dict[int, int] | None = None  # before --grade-map, when one was given
    grade_map: dict[int, int] | None = None
    topic_field: str | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("grades", "grades_as_written", "grade_map"):
            if d[key] is not None:
                d[key] = {str(k): v for k, v in d[key].items()}
        for key in ("only_topics_examples", "only_qrels_examples", "warnings"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CollectionReport:
        """The report `to_dict` made (KeyError for a dict of another shape, e.g. from an older workbench)."""
        if set(d) != {f.name for f in fields(cls)} or not isinstance(d["only_topics"], int):
            raise KeyError("not a collection report of this shape")
        ints = {key: None if d.get(key) is None else {int(k): int(v) for k, v in d[key].items()}
                for key in ("grades", "grades_as_written", "grade_map")}
        lists = {key: tuple(d.get(key, ())) for key in ("only_topics_examples", "only_qrels_examples", "warnings")}
        return cls(**{**d, **ints, **lists})

    def lines(self) -> list[str]:
        """The report as a reader wants it on a terminal (what `collection add` and `collection show` print)."""
        out = [f"judged queries   {self.n_judged} ({self.n_judgments} judgments)"]
        if self.n_topics is None:
            out.append("topics           none (retrieval needs them; scoring does not)")
        else:
            out.append(f"topics           {self.n_topics} ({self.topic_field or 'title'} as the query text)")
            out.append(f"  judged, with a topic      {self.both}")
            out.append(f"  topics without judgments  {self.only_topics}"
                       + (f" (e.g. {_examples(self.only_topics_examples, self.only_topics)})"
                          if self.only_topics else ""))
            out.append(f"  judged without a topic    {self.only_qrels}"
                       + (f" (e.g. {_examples(self.only_qrels_examples, self.only_qrels)})"
                          if self.only_qrels else ""))
        j, r = self.judgments_per_query, self.relevant_per_query
        out.append(f"judgments/query  min {j['min']}, median {j['median']}, max {j['max']}")
        out.append(f"relevant/query   min {r['min']}, median {r['median']}, max {r['max']} (grade > 0)")
        out.append("grades           " + _histogram(self.grades))
        if self.grade_map is not None:
            mapping = ",".join(f"{k}:{v}" for k, v in self.grade_map.items())
            written = "" if self.grades_as_written is None else "; as written: " + _histogram(self.grades_as_written)
            out.append(f"  --grade-map {mapping}{written}")
        out.extend(f"warning: {w}" for w in self.warnings)
        return out


def _histogram(grades: dict[int, int]) -> str:
    return ", ".join(f"{g}: {n}" for g, n in sorted(grades.items()))


def _grade_counts(relevance: pa.ChunkedArray | pa.Array) -> dict[int, int]:
    counts = pc.value_counts(relevance)
    return {int(g): int(n) for g, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(),
                                            strict=True)}


def collection_report(qrels: pa.Table, topics: pa.Table | None, *, grade_map: dict[int, int] | None = None,
                      grades_as_written: dict[int, int] | None = None,
                      topic_field: str | None = None) -> CollectionReport:
    """The report of judgments `qrels` (as stored, after any grade map) and `topics` (None: none)."""
    per_query = qrels.group_by("query_id").aggregate([("doc_id", "count")])
    relevant = qrels.filter(pc.greater(qrels.column("relevance"), 0)).group_by("query_id").aggregate(
        [("doc_id", "count")])
    judged = per_query.column("query_id").combine_chunks()
    rel_counts = np.zeros(len(judged), dtype=np.int64)
    at = pc.index_in(relevant.column("query_id"), value_set=judged).to_numpy(zero_copy_only=False)
    rel_counts[at] = relevant.column("doc_id_count").to_numpy()
    both, only_topics, only_qrels, n_topics = 0, [], [], None
    if topics is not None:
        topic_ids = topics.column("query_id").combine_chunks()
        n_topics = len(topic_ids)
        has_topic = pc.is_in(judged, value_set=topic_ids)
        both = int(pc.sum(has_topic).as_py() or 0)
        only_qrels = _natural(judged.filter(pc.invert(has_topic)).to_pylist())
        only_topics = _natural(topic_ids.filter(pc.invert(pc.is_in(topic_ids, value_set=judged))).to_pylist())
    grades = _grade_counts(qrels.column("relevance"))
    report = CollectionReport(
        n_judged=len(judged), n_judgments=qrels.num_rows, n_topics=n_topics, both=both,
        only_topics=len(only_topics), only_qrels=len(only_qrels),
        only_topics_examples=tuple(only_topics[:KEPT_EXAMPLES]), only_qrels_examples=tuple(only_qrels[:KEPT_EXAMPLES]),
        judgments_per_query=_spread(per_query.column("doc_id_count").to_numpy()),
        relevant_per_query=_spread(rel_counts), grades=grades,
        grades_as_written=grades_as_written if grade_map is not None else None, grade_map=grade_map,
        topic_field=topic_field if topics is not None else None,
    )
    hint = _leading_zeros_hint(only_topics, only_qrels)
    return CollectionReport(**{**report.__dict__, "warnings": tuple(report_warnings(report, hint))})


def report_warnings(r: CollectionReport, hint: str = "") -> list[str]:
    """What looks wrong: coverage below COVERAGE either way, negative grades, a scale that is not 0..k. `hint`
    follows the first coverage warning (see _leading_zeros_hint)."""
    out = []
    if r.n_topics is not None:
        if r.n_judged and r.both < COVERAGE * r.n_judged:
            out.append(f"only {r.both} of {r.n_judged} judged queries have a topic ({r.both / r.n_judged:.0%}); "
                       f"the other {r.only_qrels} (e.g. {_examples(r.only_qrels_examples, r.only_qrels)}) get no "
                       f"run from `retrieve` and score 0 in every mean (trec_eval -c){hint}")
            hint = ""  # said once
        if r.n_topics and r.both < COVERAGE * r.n_topics:
            out.append(f"only {r.both} of {r.n_topics} topics are judged ({r.both / r.n_topics:.0%}); runs on the "
                       f"other {r.only_topics} (e.g. {_examples(r.only_topics_examples, r.only_topics)}) are not "
                       f"scored{hint}")
    negative = {g: n for g, n in r.grades.items() if g < 0}
    if negative:
        n = sum(negative.values())
        out.append(f"{n} {'judgment has' if n == 1 else 'judgments have'} a negative grade ({_histogram(negative)}): "
                   "trec_eval counts them as judged but never relevant, with gain 0 in nDCG (and bpref does not "
                   "count them as non-relevant); if they mean something else, remap them with --grade-map")
    levels = sorted(r.grades)
    if not set(levels) <= {0, 1} and levels != list(range(levels[-1] + 1)):
        out.append(f"grades {', '.join(map(str, levels))} are not a 0..k scale: graded measures (nDCG) take the "
                   "grade as the gain and binary ones count every grade >= rel (default 1) as relevant; if a "
                   "lower grade means more relevant (as in Cranfield), remap with --grade-map, e.g. "
                   "\"1:3,2:2,3:1,4:0,-1:0\"")
    return out


def _leading_zeros_hint(only_topics: list[str], only_qrels: list[str]) -> str:
    """When unmatched ids on both sides are equal but for leading zeros (TREC-1's 051 vs 51), say so."""
    stripped = {q.lstrip("0") or "0": q for q in only_qrels}
    pairs = [(t, stripped[t.lstrip("0") or "0"]) for t in only_topics if (t.lstrip("0") or "0") in stripped]
    if not pairs:
        return ""
    t, q = pairs[0]
    return (f"; {len(pairs)} of the unmatched ids are equal once leading zeros are dropped (e.g. topic {t}, judged "
            f"query {q}): ids are compared as strings, as trec_eval does; check how the topics are numbered")


def parse_grade_map(text: str) -> dict[int, int]:
    """`"1:3,2:2,3:1,4:0,-1:0"` -> {1: 3, 2: 2, 3: 1, 4: 0, -1: 0}; WorkbenchError on anything else."""
    out: dict[int, int] = {}
    pairs = [p for p in str(text).split(",")]
    for pair in pairs:
        m = _PAIR.match(pair)
        if m is None:
            raise WorkbenchError(f"grade map: expected grade:new-grade pairs separated by commas (e.g. "
                                 f"1:3,2:2,3:1,4:0,-1:0), got {pair.strip()!r}")
        old, new = int(m.group(1)), int(m.group(2))
        if old in out:
            raise WorkbenchError(f"grade map: grade {old} is mapped twice")
        if abs(old) >= 2**62 or abs(new) >= 2**62:
            raise WorkbenchError(f"grade map: grade {old if abs(old) >= 2**62 else new} is out of range")
        out[old] = new
    return out


def apply_grade_map(qrels: pa.Table, grade_map: dict[int, int]) -> pa.Table:
    """The judgments with every grade replaced by its image; a grade the map does not cover is an error (a half
    remapped scale would mix two meanings of the same number)."""
    rel = qrels.column("relevance").combine_chunks()
    keys = pa.array(list(grade_map), pa.int64())
    at = pc.index_in(rel, value_set=keys)
    if at.null_count:
        missing = sorted({int(g) for g in rel.filter(pc.is_null(at)).to_pylist()})
        raise WorkbenchError(f"grade map does not say what grade {', '.join(map(str, missing))} becomes; map every "
                             f"grade the qrels hold ({', '.join(map(str, sorted(_grade_counts(rel))))})")
    mapped = pc.take(pa.array(list(grade_map.values()), pa.int64()), at)
    return qrels.set_column(qrels.schema.get_field_index("relevance"), "relevance", mapped).cast(QRELS_SCHEMA)
