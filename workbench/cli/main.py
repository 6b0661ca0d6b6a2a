"""The `workbench` command: argparse front end over the library.

argparse rather than click/typer because IR users type `--measures nDCG@10 "AP(rel=2)"` (one flag, many
values) and `ingest runs/*.trec`; click options cannot take a variable number of values.
Every user mistake is a WorkbenchError, printed as one line on stderr with exit code 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rich.markup import escape

from workbench import __version__
from workbench.cli import analysis_cmds, collection_cmds, lake_cmds, produce_cmds, run_cmds, score_cmds
from workbench.cli.common import Context, Parser, after_parse, err_console
from workbench.errors import WorkbenchError

MODULES = (collection_cmds, run_cmds, score_cmds, analysis_cmds, produce_cmds, lake_cmds)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench",
        description="Retrieval evaluation workbench: store runs, score them like trec_eval, compare, export.",
    )
    parser.add_argument("--db", metavar="PATH", help="store file (default: $WORKBENCH_DB, else ./workbench.duckdb)")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in MODULES:
        module.register(sub)
    return parser


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}


def one_line(message: str) -> str:
    """An error message as one line: control characters a name or path carried in (newline, ESC) are escaped."""
    return message.translate(_CONTROL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        after_parse(args)
    except SystemExit as exc:  # argparse's usage error (2) or --help/--version (0), already printed
        return exc.code if isinstance(exc.code, int) else 2
    ctx = Context(db=args.db)
    try:
        code = args.func(ctx, args)
    except WorkbenchError as exc:
        err_console().print(f"[bold red]error:[/] {escape(one_line(str(exc)))}", highlight=False, markup=True,
                            soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console().print("interrupted; the store is unchanged by the unfinished operation")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the file system refused (name too long, permissions, disk full): a line, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        err_console().print(f"[bold red]error:[/] {escape(one_line(where + (exc.strerror or str(exc))))}",
                            highlight=False, soft_wrap=True)
        return 2
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
