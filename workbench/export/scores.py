"""Score exports: per-query or aggregate values as csv, jsonl or parquet (`run,query_id,measure,value`).

`measure` is the name the user asked for; jsonl adds `canonical`, ir-measures' spelling. Values keep full float64
precision (csv and jsonl write the shortest text that reads back as the same float)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.errors import WorkbenchError
from workbench.export.formats import SCORE_FORMATS
from workbench.files import atomic_output, write_text

COLUMNS = ["run", "query_id", "measure", "value"]


def score_frame(per_query: pd.DataFrame, aggregate: pd.DataFrame | None = None,
                canonical: dict[str, str] | None = None) -> pd.DataFrame:
    """Per-query rows, or aggregate rows with query_id 'all' (trec_eval's convention); with `canonical`
    (name shown -> ir-measures spelling, `Evaluation.canonical`) a `canonical` column after `measure`."""
    out = per_query if aggregate is None else aggregate.assign(query_id="all")
    out = out[COLUMNS].reset_index(drop=True)
    if canonical is not None:
        out.insert(3, "canonical", out["measure"].map(lambda m: canonical.get(m, m)))
    return out


def write_scores(frame: pd.DataFrame, path: str | Path | None, fmt: str) -> str | None:
    """Write to `path`, or return the text (csv/jsonl) for stdout when path is None."""
    if fmt not in SCORE_FORMATS:
        raise WorkbenchError(f"unknown score format {fmt!r}; expected one of {', '.join(SCORE_FORMATS)}")
    if fmt == "parquet":
        if path is None:
            raise WorkbenchError("parquet needs an output file: pass -o FILE")
        with atomic_output(path) as tmp:  # whole or not at all, with the user's umask
            pq.write_table(pa.Table.from_pandas(frame[COLUMNS], preserve_index=False), str(tmp))
        return None
    if fmt == "csv":  # the documented run,query_id,measure,value; floats as repr (round-trip exact)
        text = frame[COLUMNS].to_csv(index=False, lineterminator="\n")
    else:
        text = "".join(json.dumps(rec) + "\n" for rec in frame.to_dict(orient="records"))
    if path is None:
        return text
    write_text(path, text)
    return None
