"""What every command shares: the store handle, consoles, JSON output, progress bars."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING, NoReturn

from workbench.numbers import DECIMAL_TEXT, INT_TEXT

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from workbench.store import Store

# Every command module imports this one to declare its arguments, so it imports nothing heavy: rich (consoles,
# progress bars) and the store (DuckDB, pyarrow) load inside the functions that use them, once a command runs;
# `workbench --help` and a usage error stay at the interpreter's start-up cost (issue 21).

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}


def one_line(message: str) -> str:
    """An error message as one line: control characters a name or path carried in (newline, ESC) are escaped."""
    return message.translate(_CONTROL)


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@cache
def out_console() -> Console:
    from rich.console import Console

    # piped output keeps whole tables (rich would otherwise squeeze them to 80 columns)
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@dataclass
class Context:
    db: str | None

    @property
    def store(self) -> Store:
        from rich.markup import escape

        from workbench import interrupts
        from workbench.store import Store

        interrupts.store_opened()  # a Ctrl-C from now on is reported against this store
        return Store(self.db, on_wait=lambda msg: err_console().print(f"[yellow]{escape(msg)}[/]", soft_wrap=True))


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")


def progress() -> Progress:
    """A rich progress bar on stderr; invisible when stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
        from rich.markup import escape

        from workbench.files import write_text

        write_text(path, text)
        err_console().print(f"wrote {escape(str(path))}")


class Accumulate(argparse.Action):
    """A list option whose occurrences add up (`-m map -m P.10 -r a -r b`, trec_eval's habit), replacing its
    default on first use: argparse's plain nargs="+" keeps only the last occurrence, without a word."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        current = getattr(namespace, self.dest, None)
        kept = [] if current is None or current is self.default else list(current)
        setattr(namespace, self.dest, [*kept, *values])


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter that shows each option's default, unless its help already says what it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS or default == [] or "default" in text:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """The workbench's argument parser: its subcommands' parsers are of this class too (argparse passes it on).

    An option or argument declared without a type is `text` (non-empty, one line), so a name, path or measure
    added later is checked too: `--name ''` would otherwise be taken as "no name" and a newline would end up in
    a file name or an exported table.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("type", None, text)

    def error(self, message: str) -> NoReturn:
        """A usage mistake is one line, like every other refusal (argparse would print the usage block first)."""
        text = f"error: {self.prog}: {message} (see '{self.prog} --help')"
        self.exit(2, one_line(text) + "\n")

    def add_subparsers(self, **kwargs) -> argparse._SubParsersAction:
        action = super().add_subparsers(**kwargs)
        action.type = str  # argparse passes it the command and every token after it: the command's parser checks those
        return action


def add_runs_args(p: argparse.ArgumentParser, what: str, *, at_least: int) -> None:
    """Runs as arguments (`compare -c C a b`) or with -r/--runs, the spelling of every command that takes runs."""
    p.add_argument("runs", nargs="*", metavar="RUN", help=what)
    p.add_argument("--runs", "-r", dest="runs_option", nargs="+", action=Accumulate, metavar="RUN",
                   help="the same runs as an option, instead of as arguments")
    add_check(p, partial(_merge_runs, at_least=at_least))


def _merge_runs(p: argparse.ArgumentParser, args: argparse.Namespace, *, at_least: int) -> None:
    if args.runs and args.runs_option:
        p.error("give the runs as arguments or with -r/--runs, not both")
    args.runs = args.runs or args.runs_option or []
    if len(args.runs) < at_least:
        p.error(f"give at least {at_least} runs (as arguments or with -r/--runs)")


def add_check(p: argparse.ArgumentParser, check: Callable[[argparse.ArgumentParser, argparse.Namespace], None]) -> None:
    """Run `check(p, args)` after parsing when p's command was chosen; it refuses with `p.error` (exit 2)."""
    p.set_defaults(_after_parse=[*(p.get_default("_after_parse") or []), partial(check, p)])


def after_parse(args: argparse.Namespace) -> None:
    """Checks that need several options at once (argparse's usage error, exit 2, as for a single bad value)."""
    for check in getattr(args, "_after_parse", None) or []:
        check(args)


def add_measures_arg(p: argparse.ArgumentParser, what: str, default: list[str] | None = None) -> None:
    """-m/--measures, the spelling of every command that takes measures (--measure still works: argparse takes
    any unambiguous prefix of a long option)."""
    p.add_argument("--measures", "-m", nargs="+", action=Accumulate, metavar="MEASURE", default=default, help=what)
    add_custom_measures_arg(p)


def add_custom_measures_arg(p: argparse.ArgumentParser) -> None:
    """--custom-measures FILE: a user's runtime measures for this command; main() loads them before it runs."""
    p.add_argument("--custom-measures", action="append", metavar="FILE",
                   help="a Python file of ir_measures.define/define_byquery measures, then named in -m like any "
                        "other (e.g. MyMeasure@10); repeat the option for several files; scores are keyed by the "
                        "file's content; also $WORKBENCH_CUSTOM_MEASURES")


def add_collection_arg(p, required: bool = True) -> None:
    p.add_argument("--collection", "-c", required=required, help="collection name")


def add_json_arg(p) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


# ---- argparse value types: each refuses a bad value with argparse's one-line usage error (exit 2) ----------------
# Every numeric option goes through one of these, so junk (nan, inf, -1, 2**63, '', 'abc', '1_000') never reaches
# the library. Numbers are read with a strict decimal syntax: Python's int()/float() would also take '1_000',
# ' 5 ', 'nan' and 'infinity'.

MAX_INT = 2**31 - 1
"""The largest count or cutoff an option takes: trec_eval's cutoffs and Lucene's hit counts are C ints."""
MAX_RESAMPLES = 1_000_000
"""Bootstrap samples and permutations: 10,000 is the default; a million is already minutes on a big collection."""
MAX_THREADS = 1024
MAX_SEED = 2**63 - 1

_INT = INT_TEXT
_FLOAT = DECIMAL_TEXT


def _shown(text: str) -> str:
    """The user's value quoted for an error line: escapes keep it on one line, and long values are cut."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _int_type(name: str, low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not _INT.fullmatch(text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {_shown(text)}")
        return int(text)

    parse.__name__ = name
    return parse


def _float_type(name: str, ok: Callable[[float], bool], what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        if not _FLOAT.fullmatch(text) or not math.isfinite(float(text)) or not ok(float(text)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {_shown(text)}")
        return float(text)

    parse.__name__ = name
    return parse


positive_int = _int_type("positive_int", 1, MAX_INT, f"an integer from 1 to {MAX_INT}")
non_negative_int = _int_type("non_negative_int", 0, MAX_INT, f"an integer from 0 to {MAX_INT}")
resamples = _int_type("resamples", 1, MAX_RESAMPLES, f"a number of samples from 1 to {MAX_RESAMPLES:,}")
threads = _int_type("threads", 1, MAX_THREADS, f"a number of threads from 1 to {MAX_THREADS}")
seed = _int_type("seed", 0, MAX_SEED, "a seed from 0 to 2**63-1")
port = _int_type("port", 1, 65535, "a TCP port from 1 to 65535")
batch_size = _int_type("batch_size", 1, 4096, "a batch size from 1 to 4096")
finite_float = _float_type("finite_float", lambda x: True, "a finite number")
non_negative_float = _float_type("non_negative_float", lambda x: x >= 0, "a finite number >= 0")
unit_interval = _float_type("unit_interval", lambda x: 0 <= x <= 1, "a number from 0 to 1")
probability = _float_type("probability", lambda x: 0 < x < 1, "a probability strictly between 0 and 1")
share = _float_type("share", lambda x: 0 < x <= 1, "a share in (0, 1], e.g. 0.9")
bm25_k1 = _float_type("bm25_k1", lambda x: 0 <= x <= 1000, "a number from 0 to 1000")
weight = _float_type("weight", lambda x: abs(x) <= 1e6, "a number from -1e6 to 1e6")


def text(value: str) -> str:
    """A name, path or measure: not empty and without control characters (a newline, tab or escape)."""
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise argparse.ArgumentTypeError(f"expected a non-empty value on one line, got {_shown(value)}")
    return value


def depth_list(value: str) -> list[int]:
    """`0,5,10,20`: a comma-separated list of rerank depths (integers >= 0), at least one."""
    parts = [p.strip() for p in value.split(",")]
    if not parts or not all(_INT.fullmatch(p) and 0 <= int(p) <= MAX_INT for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers from 0 to {MAX_INT}, "
                                         f"e.g. 0,10,20, got {_shown(value)}")
    return sorted({int(p) for p in parts})


def ip_address(value: str) -> str:
    """A bind address: an IPv4/IPv6 literal or `localhost` (a host name would be resolved when the server starts)."""
    import ipaddress

    if value != "localhost":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an IP address such as 127.0.0.1 or 0.0.0.0, got {_shown(value)}") from None
    return value
