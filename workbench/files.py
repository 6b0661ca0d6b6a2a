"""Writing files for the user: through a temporary file and a rename, with the user's umask, errors in one line.

A reader of the target never sees half a file, and a failed write (a full disk, a folder where a file was
expected, a read-only place) leaves whatever was there untouched and says so in one line naming the path. The
temporary file is created with mode 0666 filtered by the process umask, as `open()` would create the file itself
(`tempfile.mkstemp` makes 0600 files, which other users and tools could not read); a file that already exists keeps
its own mode. Targets that are not regular files (`/dev/stdout`, `/dev/full`, a FIFO) are written in place, from
a temporary file elsewhere: a rename would replace the device node instead of writing to it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import WorkbenchError


def write_error(path: str | Path, exc: OSError) -> WorkbenchError:
    """The one-line error for a failed write of `path`."""
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc) or type(exc).__name__)
    return WorkbenchError(f"{path}: cannot write: {reason}")


def ensure_folder(folder: str | Path) -> Path:
    """Create `folder` (and its parents) unless it exists; a one-line error when it cannot be, or is a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WorkbenchError(f"{folder}: not a folder (a file of that name exists)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WorkbenchError(f"{folder}: not a folder (a file of that name exists)") from None
    except OSError as exc:
        raise WorkbenchError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WorkbenchError(f"{folder}: cannot write into this folder: permission denied")
    return folder


@contextmanager
def atomic_output(path: str | Path, *, follow_symlinks: bool = True) -> Iterator[Path]:
    """A regular temporary file to write the whole output to; it becomes `path` when the block succeeds and is
    removed when not.

    `path` is resolved through symlinks first (`-o link` writes where the link points, as a shell redirection
    would), unless `follow_symlinks` is False (the caller has already checked where it may write). When `path` is
    a device or a FIFO, the temporary file is made elsewhere and its bytes are written to `path` afterwards: no
    writer ever gets such a path (pyarrow deletes its output path when a write fails, `/dev/full` included).
    """
    target = Path(os.path.realpath(path)) if follow_symlinks else Path(path)
    if target.is_dir():
        raise WorkbenchError(f"{path}: is a folder; give a file name")
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise write_error(path, exc) from exc
    special = st is not None and not stat.S_ISREG(st.st_mode)
    if st is not None and not special and _is_duckdb(target):
        raise WorkbenchError(f"{path}: is a DuckDB database (a store?); an output never replaces one, give another "
                             "file name")
    if target.name.endswith(".wal") and _is_duckdb(target.with_name(target.name[: -len(".wal")])):
        raise WorkbenchError(f"{path}: is the write-ahead log of a DuckDB database (a store's uncommitted or "
                             "unreplayed writes live there); an output never replaces it, give another file name")
    if special:
        tmp = Path(tempfile.gettempdir()) / f".workbench-{secrets.token_hex(6)}.tmp"
    else:
        ensure_folder(target.parent)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for open()
        if st is not None and not special:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        yield tmp
        if special:
            _copy_into(tmp, target)
        else:
            _fsync(tmp)
            os.replace(tmp, target)
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        _remove(tmp)


def _is_duckdb(path: Path) -> bool:
    """Whether `path` is a DuckDB database file (its header: 8 checksum bytes, then b"DUCK")."""
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


def _copy_into(src: Path, target: Path) -> None:
    """Write src's bytes into an existing device or FIFO (opened for writing, never created or replaced)."""
    with open(src, "rb") as fh, open(target, "wb", buffering=0) as out:
        while chunk := fh.read(1 << 20):
            out.write(chunk)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` whole or not at all (see atomic_output)."""
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return Path(path)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
