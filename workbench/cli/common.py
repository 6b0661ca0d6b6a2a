"""What every command shares: the store handle, consoles, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cache

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from workbench.store import Store


@cache
def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@cache
def out_console() -> Console:
    # piped output keeps whole tables (rich would otherwise squeeze them to 80 columns)
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@dataclass
class Context:
    db: str | None

    @property
    def store(self) -> Store:
        return Store(self.db, on_wait=lambda msg: err_console().print(f"[yellow]{escape(msg)}[/]", soft_wrap=True))


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")


def progress() -> Progress:
    """A rich progress bar on stderr; invisible when stderr is not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err_console(), transient=True, disable=not sys.stderr.isatty(),
    )


def write_output(text: str, path: str | None) -> None:
    """stdout, or `path` whole or not at all (a temp file and a rename, the user's umask; an unwritable path, a
    folder or a full disk is a one-line error and leaves what was there)."""
    if path is None or path == "-":
        sys.stdout.write(text)
    else:
        from workbench.files import write_text

        write_text(path, text)
        err_console().print(f"wrote {escape(str(path))}")


def add_collection_arg(p, required: bool = True) -> None:
    p.add_argument("--collection", "-c", required=required, help="collection name")


def add_json_arg(p) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
