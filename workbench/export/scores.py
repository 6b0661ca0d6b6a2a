"""Score exports: per-query or aggregate values as csv, jsonl or parquet (`run,query_id,measure,value`)."""

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


def score_frame(per_query: pd.DataFrame, aggregate: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-query rows, or aggregate rows with query_id 'all' (trec_eval's convention)."""
    if aggregate is None:
        return per_query[COLUMNS].reset_index(drop=True)
    out = aggregate.assign(query_id="all")
    return out[COLUMNS].reset_index(drop=True)


def write_scores(frame: pd.DataFrame, path: str | Path | None, fmt: str) -> str | None:
    """Write to `path`, or return the text (csv/jsonl) for stdout when path is None."""
    if fmt not in SCORE_FORMATS:
        raise WorkbenchError(f"unknown score format {fmt!r}; expected one of {', '.join(SCORE_FORMATS)}")
    if fmt == "parquet":
        if path is None:
            raise WorkbenchError("parquet needs an output file: pass -o FILE")
        with atomic_output(path) as tmp:  # whole or not at all, with the user's umask
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), str(tmp))
        return None
    if fmt == "csv":
        text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    else:
        text = "".join(json.dumps(rec) + "\n" for rec in frame.to_dict(orient="records"))
    if path is None:
        return text
    write_text(path, text)
    return None
