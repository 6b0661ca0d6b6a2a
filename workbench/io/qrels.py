"""Read relevance judgments: TREC qrels (`qid iter docid rel`) or BEIR TSV (`query-id corpus-id score`).

The format is detected from the first data line (the BEIR header). Judgments of the same (query, doc) pair
with the same grade collapse to one row; different grades are an error, because which one trec_eval uses
depends on file order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import QrelsFormatError
from workbench.io import _numbers, _text
from workbench.model import QRELS_SCHEMA

BEIR_HEADER = ("query-id", "corpus-id", "score")


def read_qrels(path: str | Path) -> pa.Table:
    """Parse and validate a qrels file (gzip ok); QrelsFormatError names the first offending line."""
    path = Path(path)
    _text.check_file(path, QrelsFormatError)
    src = _text.data_lines(path, QrelsFormatError, comments=True)
    problems = list(src.problems)
    fields, counts, _ = _text.whitespace_fields(src.lines)  # leading/trailing blanks and tabs, as trec_eval reads
    line_no = src.line_no
    beir = len(src.lines) > 0 and tuple(src.lines[0].as_py().strip().split("\t")) == BEIR_HEADER
    if beir:
        fields, counts, line_no = fields.slice(1), counts[1:], line_no[1:]
        want, layout, cols = 3, "query-id<TAB>corpus-id<TAB>score", (0, 1, 2)
    else:
        want, layout, cols = 4, "qid iter docid rel", (0, 2, 3)
    bad = _text.first_true(counts != want)
    if bad is not None:
        problems.append((int(line_no[bad]), _field_count_message(want, layout, int(counts[bad]))))
        keep = slice(0, bad)
        fields, counts, line_no = fields.slice(0, bad), counts[keep], line_no[keep]
    qid, docid, rel = (_text.field(fields, j) for j in cols)
    grades, is_int, in_range = _numbers.strtol_column(rel)  # trec_eval reads grades with atol
    bad = _text.first_true(~in_range)
    if bad is not None:
        value = rel[bad].as_py()
        what = (f"relevance is out of range (64-bit integers), got {_text.clip(value)!r}" if is_int[bad] else
                f"relevance must be an integer, got {_text.clip(value)!r} (expected {layout}); "
                f"{_numbers.atol_note(value)}")
        problems.append((int(line_no[bad]), what))
        qid, docid, grades, line_no = qid[:bad], docid[:bad], grades[:bad], line_no[:bad]
    bad = _text.first_true(pc.equal(qid, "all").to_numpy(zero_copy_only=False))
    if bad is not None:
        problems.append((int(line_no[bad]), _text.ALL_QUERY_ID))
    relevance = pa.array(grades, pa.int64())
    table = pa.table({"query_id": qid, "doc_id": docid, "relevance": relevance}, schema=QRELS_SCHEMA)
    table, dup_problem = _collapse_duplicates(table, line_no)
    if dup_problem:
        problems.append(dup_problem)
    _text.raise_first(QrelsFormatError, path, problems)
    if table.num_rows == 0:
        raise QrelsFormatError(path, 1, "no judgments (the file is empty or has only blank/comment lines; "
                                        "expected lines qid iter docid rel)")
    return table


def _field_count_message(want: int, layout: str, got: int) -> str:
    message = f"expected {want} fields ({layout}), got {got}"
    if want == 4 and got == 3:  # Cranfield's cranqrel, a BEIR TSV without its header, ...
        message += ("; a 3-column file (qid docid rel) is not TREC qrels: add the iteration column trec_eval "
                    "reads (awk '{print $1, 0, $2, $3}'), or give a BEIR qrels TSV its header line "
                    "query-id<TAB>corpus-id<TAB>score")
    return message


def _collapse_duplicates(table: pa.Table, line_no: np.ndarray) -> tuple[pa.Table, tuple[int, str] | None]:
    """Drop exact repeats (the first judgment of a pair stays, in file order); report the first pair judged
    again with a different grade."""
    first = _text.first_of_pairs(table.column("query_id"), table.column("doc_id"))
    if first is None:
        return table, None
    rel = table.column("relevance").combine_chunks().to_numpy(zero_copy_only=False)
    clash = _text.first_true(rel != rel[first])
    collapsed = table.filter(pa.array(first == np.arange(table.num_rows)))
    if clash is None:
        return collapsed, None
    f = int(first[clash])
    qid, docid = table.column("query_id")[clash].as_py(), table.column("doc_id")[clash].as_py()
    return collapsed, (
        int(line_no[clash]),
        f"doc_id {docid} judged twice for query {qid} with different grades "
        f"({int(rel[f])} at line {int(line_no[f])}, {int(rel[clash])} here)",
    )
