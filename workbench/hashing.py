"""Content hashes: the identity of files, qrels and tables in the store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_table(table: pa.Table, sort_by: list[str] | None = None) -> str:
    """Hash of a table's values in a canonical order, independent of the file format it came from."""
    if sort_by:
        table = table.sort_by([(c, "ascending") for c in sort_by])
    h = hashlib.sha256()
    h.update(",".join(table.column_names).encode())
    columns = [pc.cast(table.column(c), pa.string()).fill_null("\x00") for c in table.column_names]
    lines = pc.binary_join_element_wise(*columns, "\t") if columns else None
    if lines is not None:
        for chunk in lines.chunks:
            for buf in (chunk.buffers()[1], chunk.buffers()[2]):  # offsets, data
                if buf is not None:
                    h.update(memoryview(buf))
    return h.hexdigest()
