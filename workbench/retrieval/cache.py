"""Where retrieval artefacts (Lucene indexes, embeddings, faiss indexes) live, and how they are keyed.

Artefacts are keyed by content, never by file name or time: the sha256 of the corpus rows, of the model files and of
the settings that change the artefact. A key that exists is complete, because every artefact is built under a
temporary name and renamed into place (rename is atomic on one file system), so a crash or a concurrent builder
leaves either nothing or a finished artefact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.env import env_text

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The default cache root: `$WORKBENCH_CACHE`, else `~/.cache/workbench` (not created here)."""
    env = env_text("WORKBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "workbench"


default_cache_dir = cache_dir  # for modules whose `cache_dir` parameter shadows the function


def _string_column_digest(h: hashlib._Hash, array: pa.Array) -> None:
    """Feed one string column into `h` independently of chunking and offsets: lengths, then the bytes."""
    array = array.cast(pa.large_string())
    lengths = pc.fill_null(pc.binary_length(array), -1).to_numpy(zero_copy_only=False).astype("<i8")
    h.update(lengths.tobytes())
    if len(array) == 0:
        return
    offsets = np.frombuffer(array.buffers()[1], dtype="<i8")[array.offset : array.offset + len(array) + 1]
    data = array.buffers()[2]
    if data is not None:
        h.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def hash_table(table: pa.Table, columns: Sequence[str] | None = None) -> str:
    """sha256 of a table's values (in row order), the same however the table is chunked or sliced.

    Row order is part of the content: it decides Lucene's internal doc order and so tie-breaking at a cut-off.
    """
    h = hashlib.sha256()
    names = list(columns) if columns is not None else table.column_names
    h.update(json.dumps(names).encode())
    h.update(len(table).to_bytes(8, "little"))
    for name in names:
        array = table.column(name).combine_chunks()
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            _string_column_digest(h, array)
        elif pa.types.is_floating(array.type) or pa.types.is_integer(array.type):
            values = pc.fill_null(array.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
            h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
            h.update(np.asarray(pc.is_null(array).to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes())
        else:
            _string_column_digest(h, array.cast(pa.string()))
    return h.hexdigest()


_DIR_MEMO: dict[tuple, str] = {}


def hash_dir(path: str | Path) -> str:
    """sha256 over a directory's files (relative names and bytes), hidden files and folders excluded.

    Hidden entries are skipped because hub caches keep lock files and metadata (`.cache/`) beside the weights.
    The result is memoised per process on (name, size, mtime) of every file, so a 90 MB model is read once.
    """
    root = Path(path)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    stamp = (str(root.resolve()), *((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if stamp in _DIR_MEMO:
        return _DIR_MEMO[stamp]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root).as_posix()).encode() + b"\0")
        h.update(p.stat().st_size.to_bytes(8, "little"))
        with p.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    digest = h.hexdigest()
    _DIR_MEMO[stamp] = digest
    return digest


def hash_params(params: dict) -> str:
    """sha256 of a JSON-serialisable settings dict (keys sorted), for cache keys."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `final`; on success rename it to `final`.

    If another process finished the same key first, its directory is kept and ours is discarded (same content).
    On an exception the temporary directory is removed and nothing appears under `final`.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a temporary file path beside `final`; on success replace `final` with it atomically."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
