"""Load an ir_datasets id from the files already on disk, never from the network.

ir_datasets downloads a missing file the first time an iterator needs it (retrying mirrors, printing progress),
and creates folders under IR_DATASETS_HOME as a side effect of `import ir_datasets` and of every download
attempt. The workbench promises no hidden network access, so `offline()` wraps the whole load:

- its download classes raise `NotOffline` (naming the file ir_datasets wanted, and where it would have fetched
  it) instead of connecting;
- an audit hook refuses any socket connection or DNS lookup made in the block by anything else;
- folders created under IR_DATASETS_HOME inside the block are removed again if they are still empty, so a failed
  load leaves the folder as it was.

It patches ir_datasets' classes only for the duration of the block (one thread: the CLI's).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

_NETWORK_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                   "socket.sendto", "socket.sendmsg"}


class NotOffline(Exception):
    """ir_datasets needed a file it does not have (`path`, None when it would only stream it from `url`)."""

    def __init__(self, path: str | None, url: str | None, message: str | None = None) -> None:
        super().__init__(path or url or "network access")
        self.path, self.url, self.message = path, url, message


class _State:
    """The one guarded block: its thread, the folder watched and the folders created in it."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.home: Path | None = None
        self.created: list[Path] = []


_STATE = _State()
_HOOKED = False
_LOCK = threading.Lock()


def _audit(event: str, args: tuple) -> None:
    if _STATE.thread is None or _STATE.thread != threading.get_ident():
        return
    if event in _NETWORK_EVENTS:
        raise NotOffline(None, None, f"a network access ({event}) was refused")
    if event == "os.mkdir" and _STATE.home is not None:
        path = Path(os.fsdecode(args[0])).absolute()
        if path.is_relative_to(_STATE.home) and not path.exists():
            _STATE.created.append(path)


def home() -> Path:
    """Where ir_datasets looks for its files: $IR_DATASETS_HOME, else ~/.ir_datasets."""
    return Path(os.environ.get("IR_DATASETS_HOME") or Path.home() / ".ir_datasets").absolute()


def _first_url(download) -> str | None:
    for mirror in getattr(download, "mirrors", ()):
        url = getattr(mirror, "url", None) or getattr(mirror, "uri", None)
        if url:
            return str(url)
    return None


@contextlib.contextmanager
def _patched_downloads() -> Iterator[None]:
    """ir_datasets' download classes, made to raise NotOffline where they would fetch a file."""
    from ir_datasets.util import download as dl

    def download_path(self, force=True, _orig=dl.Download.path):
        cached = self._cache_path
        if self._path is not None or (cached is not None and (not force or os.path.exists(cached))):
            return _orig(self, force)
        raise NotOffline(None if cached is None else str(cached), _first_url(self))

    def download_stream(self, _orig=dl.Download.stream):
        if self._stream:
            raise NotOffline(None, _first_url(self))
        return _orig(self)

    def local_path(self, force=True):
        if force and not self._path.exists():
            raise NotOffline(str(self._path), None, getattr(self, "_message", None))
        return self._path

    def refuse(self, *args, **kwargs):
        raise NotOffline(None, getattr(self, "url", None) or getattr(self, "uri", None))

    patches = [(dl.Download, "path", download_path), (dl.Download, "stream", download_stream),
               (dl.LocalDownload, "path", local_path), (dl.RequestsDownload, "__iter__", refuse),
               (dl.GoogleDriveDownload, "stream", refuse), (dl.GoogleCloudBucketStream, "stream", refuse)]
    saved = [(cls, name, cls.__dict__[name]) for cls, name, _ in patches]
    try:
        for cls, name, fn in patches:
            setattr(cls, name, fn)
        yield
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


@contextlib.contextmanager
def offline() -> Iterator[Path]:
    """A block in which ir_datasets reads only files that are present (see the module docstring); yields the
    IR_DATASETS_HOME it reads. Raises NotOffline out of the block for the first missing file."""
    global _HOOKED
    with _LOCK:
        if not _HOOKED:
            sys.addaudithook(_audit)  # a hook cannot be removed: it acts only inside this block, in this thread
            _HOOKED = True
    _STATE.thread, _STATE.home, _STATE.created = threading.get_ident(), home(), []
    try:
        import ir_datasets  # noqa: F401 - imported inside the block: the import creates folders

        with _patched_downloads():
            yield _STATE.home
    finally:
        created, _STATE.thread, _STATE.home, _STATE.created = _STATE.created, None, None, []
        for path in sorted(created, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty (ir_datasets wrote there) or gone: leave it
                path.rmdir()
