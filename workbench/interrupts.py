"""Ctrl-C that never lies: a store write is either rolled back or reported as stored.

DuckDB's Python client runs Python's SIGINT handler while it executes and turns a KeyboardInterrupt into its own
`RuntimeError('Query interrupted')`, which code that maps DuckDB errors may wrap again; a signal can also land
between statements or while COMMIT writes. So the CLI does not rely on the exception's type:

- `catching()` (around a CLI command) installs a handler that records the interrupt, then raises
  KeyboardInterrupt; the command's exit handler asks `requested()`, whatever the exception became.
- `commit(con, what)` is the only way a store transaction commits. It runs with Ctrl-C held back: an interrupt
  that came before it (even one some code swallowed) rolls the transaction back; one that arrives while COMMIT
  runs waits for it to finish, is raised right after, and `late()` then names what was committed, so the
  message can say so. After the first Ctrl-C nothing else commits.
- Until the command has told the user what a commit did (`reported()`, e.g. after ingest's "added" line), a
  Ctrl-C says that commit completed: one landing just after COMMIT returned, before the report, would otherwise
  claim an unchanged store that holds the new run.
- `store_opened()` (the CLI's `Context.store`, and `commit`) marks that the command has a store: only then does the
  line speak of "the store"; a command that opened none (`workbench eval`, or any command interrupted before it
  opened its store) says no store was opened.

Signal handlers live in the main thread only; elsewhere (the dashboard's script threads) these are no-ops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

MESSAGE = "interrupted; the store is unchanged by the unfinished operation"
NO_STORE = "interrupted; no store was opened, so nothing was stored"

_requested = False
_store_opened = False
_ignoring = False
_late: list[str] = []  # commits completed that the user has not been told of (reported() clears)
_during = False  # the last of them was held back by a Ctrl-C that landed while its COMMIT ran
_commits = 0  # commits completed in the current command


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum, frame) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


@contextmanager
def catching(*, last: bool = False) -> Iterator[None]:
    """Record every Ctrl-C of the block (then raise KeyboardInterrupt as usual); the previous handler after.

    `last`: the process exits after the block (the console script), so a Ctrl-C after it, when the command is
    complete and its output written, is ignored instead of breaking the interpreter's shutdown.
    """
    global _requested, _ignoring, _store_opened, _during, _commits
    _requested = _ignoring = _store_opened = _during = False
    _commits = 0
    _late.clear()
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if _ignoring or last else previous)


def requested() -> bool:
    """Whether a Ctrl-C arrived during the current command."""
    return _requested


def late() -> list[str]:
    """What was committed and not yet reported to the user (see `reported`)."""
    return list(_late)


def commits() -> int:
    """How many commits completed in the current command (a caller compares before and after a call)."""
    return _commits


def reported() -> None:
    """The user has been told what the commits so far did: a Ctrl-C from now on may say the store is unchanged
    by the unfinished operation. Call it with Ctrl-C held back (`held()`) around the report and this call."""
    global _during
    _late.clear()
    _during = False


def store_opened() -> None:
    """The current command opened a store (see `message`)."""
    global _store_opened
    _store_opened = True


def message() -> str:
    """The line the CLI prints when a command was interrupted: true whichever way the interrupt landed, and
    about a store only when the command opened one."""
    if _late:
        one = len(_late) == 1
        return (f"interrupted {'while' if _during else 'after'} committing {', '.join(_late)}: "
                f"{'that commit' if one else 'those commits'} completed; nothing after {'it' if one else 'them'} "
                "changed the store")
    return MESSAGE if _store_opened else NO_STORE


def ignore_further() -> None:
    """After an interrupted command that handled its Ctrl-C: exit with the status the command returns (130).

    Later Ctrl-Cs (while worker threads finish) are ignored instead of printing a traceback. And CPython would
    otherwise end the process by SIGINT at exit if the KeyboardInterrupt passed through a C extension's
    `PyRun_String` (pyarrow's module set-up does this while it is imported): it keeps that in a flag
    (`_Py_UnhandledKeyboardInterrupt`) which only the next `PyRun_String` clears, so one is run.
    """
    global _ignoring
    _ignoring = True
    if _main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # guarded: an interpreter without ctypes still ignores the signal
        import ctypes

        ctypes.pythonapi.PyRun_SimpleString(b"pass")
    except (ImportError, AttributeError, OSError):
        pass


_held: list[int] = []  # signals received while a held() block runs (blocks nest: the outermost one raises)
_depth = 0


def _hold(signum, frame) -> None:
    _held.append(signum)


@contextmanager
def held() -> Iterator[list[int]]:
    """Ctrl-C waits until the block is over, then raises KeyboardInterrupt; yields the signals held so far."""
    global _depth, _requested
    if not _main_thread():
        yield []
        return
    if _depth:
        yield _held
        return
    _held.clear()
    previous = signal.signal(signal.SIGINT, _hold)
    _depth = 1
    try:
        yield _held
    finally:
        _depth = 0
        signal.signal(signal.SIGINT, previous)
        if _held:
            _requested = True
    if _held:
        _held.clear()
        raise KeyboardInterrupt


def commit(con, what: str = "a change") -> None:
    """COMMIT the open transaction on `con`, unless a Ctrl-C came first (then ROLLBACK and KeyboardInterrupt)."""
    global _during, _commits
    store_opened()
    with held() as pending:
        if _requested or pending:
            con.execute("ROLLBACK")
            raise KeyboardInterrupt
        con.execute("COMMIT")
        _commits += 1
        if _main_thread():  # the CLI's; a dashboard's script threads get no Ctrl-C and never call reported()
            _late.append(what)  # until reported(): a Ctrl-C right after this returns must not say "unchanged"
            _during = bool(pending)


def rollback(con) -> None:
    """ROLLBACK after a failure, Ctrl-C held back so that it completes; a connection that cannot is closed by
    its owner, which discards the transaction as well."""
    import duckdb

    with held(), suppress(duckdb.Error, RuntimeError):
        con.execute("ROLLBACK")
