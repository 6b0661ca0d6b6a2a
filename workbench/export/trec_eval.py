"""trec_eval's text layout: `measure<TAB>query<TAB>value` lines, printed the way trec_eval 10 prints them.

trec_eval pads the measure name to 22 characters (`%-22s`), prints counts (num_q, num_ret, num_rel, num_rel_ret:
the measures summed over queries) as integers (`%ld`) and every other value as `%6.4f`. Lines written here for a
measure trec_eval has are byte-identical to trec_eval's (tested on its own expected outputs).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def value_text(value: float, summed: bool) -> str:
    """A value as trec_eval prints it: counts as integers (C's `(long)` cast), the rest `%6.4f`."""
    return str(int(value)) if summed else f"{value:6.4f}"


def plain(text: str) -> str:
    """A name safe in a tab-separated line: control characters (tab, newline, ...) shown as escapes."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def line(measure: str, query_id: str, value: str, run: str | None = None) -> str:
    """One output line; `run` (several runs) comes first, as in `workbench evaluate --per-query`."""
    body = f"{plain(measure):<22}\t{plain(query_id)}\t{value}\n"
    return body if run is None else f"{plain(run)}\t{body}"
