"""The `workbench` command: argparse front end over the library.

argparse rather than click/typer because IR users type `--measures nDCG@10 "AP(rel=2)"` (one flag, many
values) and `ingest runs/*.trec`; click options cannot take a variable number of values.
Every user mistake is a WorkbenchError, printed as one line on stderr with exit code 2; no tracebacks.
Ctrl-C exits with 130 and a line that is true whichever way the interrupt landed (workbench.interrupts). The
module imports only the standard library, so that the handler is in place before DuckDB, pyarrow or rich load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from workbench import __version__, interrupts

SCORING = {"evaluate", "leaderboard", "export", "compare", "depth", "eval"}
"""Commands that score a collection: they repeat its report's warnings (on stderr) after their output."""


def build_parser() -> argparse.ArgumentParser:
    from workbench.cli import (
        analysis_cmds,
        benchmark_cmds,
        collection_cmds,
        eval_cmds,
        judgment_cmds,
        lake_cmds,
        produce_cmds,
        run_cmds,
        score_cmds,
    )
    from workbench.cli.common import Parser

    parser = Parser(
        prog="workbench",
        description="Retrieval evaluation workbench: store runs, score them like trec_eval, compare, export.",
    )
    parser.add_argument("--db", metavar="PATH", help="store file (default: $WORKBENCH_DB, else ./workbench.duckdb)")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (collection_cmds, run_cmds, score_cmds, eval_cmds, analysis_cmds, judgment_cmds, produce_cmds,
                   lake_cmds, benchmark_cmds):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script (no `argv`: the process ends after it) and the tests' in-process entry point."""
    with interrupts.catching(last=argv is None):
        try:
            code = _main(argv)
        except KeyboardInterrupt:
            code = _interrupted()
        except BaseException:
            if interrupts.requested():  # DuckDB's 'Query interrupted', or an error some code made of it
                code = _interrupted()
            else:
                raise
    if argv is None:
        _end_before_arrow_threads_abort(code)
    return code


def _end_before_arrow_threads_abort(code: int) -> None:
    """End the process now, without finalizing the interpreter, if it read an object-store lake.

    Those reads go through deltalake's Python file system (pyarrow PyFileSystem), so Arrow's I/O threads hold
    buffers owned by Python objects and may free the last of them just after the command returned. A thread
    that needs the GIL while the interpreter finalizes is ended with pthread_exit (CPython 3.11-3.13), inside a
    C++ destructor: std::terminate, "terminate called without an active exception", exit -6 after a complete
    and correct output (apache/arrow#34314, #45017). The command's work is done here: its store connections
    are closed, its output written; only stdout and stderr are still buffered, so they are flushed first. Local
    lakes are read with Arrow's own file system (workbench.lake.tables.Lake._local_filesystem) and end normally.
    """
    tables = sys.modules.get("workbench.lake.tables")  # imported only by the commands that use a lake
    if tables is None or not tables.read_through_python_filesystem():
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    from workbench.cli.collection_cmds import warn_collection
    from workbench.cli.common import Context, after_parse, one_line
    from workbench.errors import WorkbenchError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        after_parse(args)
    except SystemExit as exc:  # a usage error (2) or --help/--version (0), already printed
        return exc.code if isinstance(exc.code, int) else 2
    ctx = Context(db=args.db)
    try:
        if getattr(args, "custom_measures", None):  # common.add_custom_measures_arg; before the command reads -m
            from workbench.scoring.registry import use_measures

            use_measures(args.custom_measures)
        code = args.func(ctx, args)
        if getattr(args, "collection", None) and (args.command in SCORING or getattr(args, "measures", None)):
            warn_collection(ctx, args.collection, getattr(args, "qrels", None))
    except WorkbenchError as exc:
        if interrupts.requested():
            return _interrupted()
        _error(one_line(str(exc)))
        return exc.exit_code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the file system refused (name too long, permissions, disk full): a line, not a traceback
        if interrupts.requested():
            return _interrupted()
        where = f"{exc.filename}: " if exc.filename else ""
        _error(one_line(where + (exc.strerror or str(exc))))
        return 2
    if interrupts.requested():  # an interrupt something swallowed: nothing committed after it (interrupts.commit)
        return _interrupted()
    return int(code or 0)


def _error(line: str) -> None:
    """`error: <line>` on stderr, in red on a terminal."""
    # rich loads here and in the commands that print tables: 0.04 s of `workbench eval`'s start-up otherwise
    from rich.markup import escape

    from workbench.cli.common import err_console

    err_console().print(f"[bold red]error:[/] {escape(line)}", highlight=False, markup=True, soft_wrap=True)


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
