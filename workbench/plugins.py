"""Third-party extensions through Python entry points, read in one place: lazily, one group at a time.

A group (`workbench.scorers`, `workbench.steps`) is read the first time something asks for it, never at import:
`importlib.metadata.entry_points()` scans every installed distribution, and a plugin's own import may be slow or
broken. Each entry point is loaded once per process; one that fails to load is
kept as a `Plugin` with its error (one line), so whoever needs what it might have provided can name it in a
one-line error, while everything that does not need it keeps working.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["Plugin", "forget_plugins", "plugins"]


@dataclass(frozen=True)
class Plugin:
    """One entry point of a group, loaded (`obj`) or not (`error`)."""

    group: str
    name: str  # the entry point's name
    target: str  # "module:attribute"
    dist: str  # the distribution that declares it ("?" when unknown)
    version: str
    obj: object = None
    error: str | None = None  # one line: "ModuleNotFoundError: No module named 'x'"

    @property
    def label(self) -> str:
        """How messages name it: `plugin 'doclen' (workbench-doclen 0.1)`."""
        return f"plugin {self.name!r} ({self.dist} {self.version})"


_LOADED: dict[str, tuple[Plugin, ...]] = {}
_LOCK = threading.Lock()


def plugins(group: str) -> tuple[Plugin, ...]:
    """Every entry point of `group`, sorted by name, each loaded once per process (errors kept, not raised)."""
    with _LOCK:
        if group not in _LOADED:
            # lazy: entry points are read when first asked for, never by `workbench --help`
            import importlib.metadata

            eps = sorted(importlib.metadata.entry_points(group=group), key=lambda ep: (ep.name, ep.value))
            _LOADED[group] = tuple(_load(group, ep) for ep in eps)
        return _LOADED[group]


def forget_plugins() -> None:
    """Read the entry points afresh on the next `plugins()` (tests; a notebook after `pip install`)."""
    with _LOCK:
        _LOADED.clear()


def one_line(exc: BaseException) -> str:
    """`Type: message` on one line, whatever the message holds."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load(group: str, ep) -> Plugin:
    dist = getattr(ep, "dist", None)
    name, version = (dist.name, dist.version) if dist is not None else ("?", "?")
    try:
        obj = ep.load()
    except (Exception, SystemExit) as exc:  # a plugin's import may raise anything; Ctrl-C still stops us
        return Plugin(group, ep.name, ep.value, name, version, error=one_line(exc))
    return Plugin(group, ep.name, ep.value, name, version, obj=obj)
