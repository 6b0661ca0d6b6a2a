"""The `workbench` command: argparse front end over the library.

argparse rather than click/typer because IR users type `--measures nDCG@10 "AP(rel=2)"` (one flag, many
values) and `ingest runs/*.trec`; click options cannot take a variable number of values.
Every user mistake is a WorkbenchError, printed as one line on stderr with exit code 2; no tracebacks.
Ctrl-C exits with 130 and a line that is true whichever way the interrupt landed (workbench.interrupts). The
module imports only the standard library, so that the handler is in place before DuckDB, pyarrow or rich load.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from workbench import __version__, interrupts


def build_parser() -> argparse.ArgumentParser:
    from workbench.cli import analysis_cmds, collection_cmds, produce_cmds, run_cmds, score_cmds

    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Retrieval evaluation workbench: store runs, score them like trec_eval, compare, export.",
    )
    parser.add_argument("--db", metavar="PATH", help="store file (default: $WORKBENCH_DB, else ./workbench.duckdb)")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (collection_cmds, run_cmds, score_cmds, analysis_cmds, produce_cmds):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script (no `argv`: the process ends after it) and the tests' in-process entry point."""
    with interrupts.catching(last=argv is None):
        try:
            return _main(argv)
        except KeyboardInterrupt:
            return _interrupted()
        except BaseException:
            if interrupts.requested():  # DuckDB's 'Query interrupted', or an error some code made of it
                return _interrupted()
            raise


def _main(argv: Sequence[str] | None) -> int:
    from rich.markup import escape

    from workbench.cli.common import Context, err_console
    from workbench.errors import WorkbenchError

    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(db=args.db)
    try:
        code = args.func(ctx, args)
    except WorkbenchError as exc:
        if interrupts.requested():
            return _interrupted()
        err_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        return exc.exit_code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if interrupts.requested():  # an interrupt something swallowed: nothing committed after it (interrupts.commit)
        return _interrupted()
    return int(code or 0)


def _interrupted() -> int:
    if interrupts.requested():
        interrupts.ignore_further()
    try:
        sys.stderr.write(interrupts.message() + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
