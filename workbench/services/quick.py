"""Quick evaluation without a store: a qrels file and run files in, trec_eval's numbers out (`workbench eval`).

Files are read by the readers `collection add` and `ingest` use (same checks, same file:line errors) and scored
by workbench.scoring, so a run gives here exactly the values `ingest` + `evaluate` store. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import WorkbenchError
from workbench.io.qrels import read_qrels
from workbench.io.runs import read_run
from workbench.io.validate import run_format_warnings, run_qrels_warnings
from workbench.naming import run_name_for
from workbench.scoring import SEMANTICS, aggregate, evaluate
from workbench.scoring.judgments import JUDGED_ONLY
from workbench.scoring.judgments import judged_only as condensed
from workbench.scoring.measures import NamedMeasure, parse_request, trec_eval_order


@dataclass(frozen=True)
class QuickRun:
    """One run file as read: its name in the output, where it came from, its tag(s) and what looks off."""

    name: str
    path: str
    run_tag: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class QuickEvaluation:
    """Per-query values of run files against a qrels file, with trec_eval -c semantics."""

    qrels: str
    measures: tuple[NamedMeasure, ...]
    skipped: tuple[str, ...]  # trec_eval names a nickname brought that ir-measures cannot express
    runid: bool  # trec_eval's runid line was asked for
    runs: tuple[QuickRun, ...]
    scores: pa.Table  # run, query_id, measure (canonical), value: per run, query_id, then measure order
    means: dict[str, dict[str, float]]  # run -> canonical measure -> trec_eval's `all` value
    semantics: str
    relevance_level: int | None
    max_per_query: int | None

    def rows(self, *, per_query: bool = True) -> Iterator[tuple[str, str, NamedMeasure, float]]:
        """(run, query_id, measure, value) in trec_eval's order: per run, each query's measures, then `all`."""
        by_name = {nm.canonical: nm for nm in self.measures}
        runs, qids, ms = (self.scores[c].to_pylist() for c in ("run", "query_id", "measure"))
        values = _numpy(self.scores["value"])
        start = 0
        for run in self.runs:
            end = start
            while end < len(runs) and runs[end] == run.name:
                end += 1
            if per_query:
                for i in range(start, end):
                    yield run.name, qids[i], by_name[ms[i]], float(values[i])
            for nm in self.measures:
                yield run.name, "all", nm, self.means[run.name][nm.canonical]
            start = end


def evaluate_files(qrels: str | Path, runs: Sequence[str | Path], measures: Sequence[str] | None = None, *,
                   relevance_level: int | None = None, max_per_query: int | None = None,
                   allow_trailing_fields: bool = False, judged_only: bool = False) -> QuickEvaluation:
    """Score run files against a qrels file: trec_eval's `official` measures when `measures` is None.

    `relevance_level`: trec_eval -l (binary measures that do not state `rel=` use it); `max_per_query`: trec_eval
    -M (each query's ranking cut to its first N documents in trec_eval order before scoring); `judged_only`:
    trec_eval -J (after -M, the documents the qrels do not judge are dropped; see scoring.judgments).
    """

    if relevance_level is not None and relevance_level < 1:  # pytrec_eval refuses them; ir-measures cannot spell < 0
        raise WorkbenchError(f"-l (relevance level) must be at least 1, got {relevance_level}")
    request = parse_request(list(measures) if measures else ["official"], rel=relevance_level)
    if not request.measures:
        raise WorkbenchError("no measure to compute: ir-measures expresses none of "
                             + ", ".join(repr(m) for m in (measures or ["official"])))
    if max_per_query is not None and max_per_query < 1:
        raise WorkbenchError(f"-M (documents per query) must be at least 1, got {max_per_query}")
    if not runs:
        raise WorkbenchError("no run file given")
    names = _run_names(runs)
    qrels_table = read_qrels(qrels)
    tables: list[pa.Table] = []
    infos: list[QuickRun] = []
    for name, path in zip(names, runs, strict=True):
        parsed = read_run(path, allow_trailing_fields=allow_trailing_fields)
        table = parsed.table
        warnings = [*parsed.warnings, *run_format_warnings(table), *run_qrels_warnings(table, qrels_table)]
        if max_per_query is not None:
            table = _top(table, max_per_query)
        if judged_only:

            table = condensed(table, qrels_table)
        tables.append(table.select(["query_id", "doc_id", "score"]).append_column(
            "run", pa.array(np.full(table.num_rows, len(tables), np.int32))))
        infos.append(QuickRun(name, str(path), ",".join(parsed.run_tags), tuple(dict.fromkeys(warnings))))
    ordered = trec_eval_order(request.measures)  # trec_eval prints in its table's order, not the -m order
    ms = [nm.measure for nm in ordered]
    # read_qrels refused or collapsed repeated judgments, as for `collection add`: no second check
    scored = evaluate(pa.concat_tables(tables), qrels_table, ms, group="run", stored_qrels=True)
    scored = scored.set_column(scored.schema.get_field_index("run"), "run",
                               pa.array(names, pa.string()).take(scored["run"]))
    means = aggregate(scored, group="run")
    return QuickEvaluation(str(qrels), ordered, request.skipped, request.runid, tuple(infos), scored,
                           means, JUDGED_ONLY if judged_only else SEMANTICS, relevance_level, max_per_query)


def _run_names(runs: Sequence[str | Path]) -> list[str]:
    """File stems (bm25.trec.gz -> bm25), or the paths as given when two stems are the same."""
    paths = [str(p) for p in runs]
    seen = set()
    for p in paths:
        if p in seen:
            raise WorkbenchError(f"{p}: the same run file is given twice")
        seen.add(p)
    stems = [run_name_for(p) for p in paths]
    return stems if len(set(stems)) == len(stems) else paths


def _top(table: pa.Table, k: int) -> pa.Table:
    """Each query's first k rows in trec_eval's order (score desc, doc_id desc): trec_eval -M."""
    order = pc.sort_indices(table, sort_keys=[("query_id", "ascending"), ("score", "descending"),
                                              ("doc_id", "descending")])
    ranked = table.take(order)
    qids = ranked["query_id"].combine_chunks()
    starts = np.flatnonzero(np.r_[True, pc.not_equal(qids[1:], qids[:-1]).to_numpy(zero_copy_only=False)])
    pos = np.arange(ranked.num_rows) - np.repeat(starts, np.diff(np.r_[starts, ranked.num_rows]))
    return ranked.filter(pa.array(pos < k))


def _numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A column as NumPy without ChunkedArray.to_numpy (which imports pandas: 0.2 s)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.to_numpy(zero_copy_only=False)
