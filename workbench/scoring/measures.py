"""Measure vocabulary: ir-measures objects, parsed once, named exactly as ir-measures prints them.

Scores are stored under `measure_name(m)`, so two spellings of one measure (`MAP`, `AP`) share a cache key.
"""

from __future__ import annotations

from collections.abc import Iterable

import ir_measures
from ir_measures.measures import Measure

from workbench.errors import UnknownMeasureError, WorkbenchError

__all__ = ["Measure", "default_measures", "measure_name", "parse_measure", "parse_measures"]

_DEFAULTS: dict[str, tuple[str, ...]] = {
    # TREC DL: graded 0-3 qrels, "relevant" means grade >= 2 for the binary measures.
    "graded": ("nDCG@10", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@100", "R(rel=2)@1000", "Judged@10"),
    # BEIR: binary qrels.
    "binary": ("nDCG@10", "R@100", "R@1000", "AP", "RR@10"),
}


def _try_parse(s: str | Measure) -> Measure | None:
    if isinstance(s, Measure):
        measure = s
    else:
        try:
            measure = ir_measures.parse_measure(str(s).strip())
        except NameError:  # not ir-measures' name: a runtime or plugin measure's (scoring/registry.py)?
            from workbench.scoring.registry import parse_added

            measure = parse_added(str(s).strip())
            if measure is None:
                return None
        except Exception:  # ir_measures raises NameError, ValueError, SyntaxError, TypeError ...
            return None
    try:
        measure.validate_params()  # parse_measure accepts unknown/ill-typed params; validation asserts
    except Exception:
        return None
    return measure


def parse_measure(s: str | Measure) -> Measure:
    """Parse one measure string (e.g. `nDCG@10`, `AP(rel=2)`); a Measure passes through validated."""
    return parse_measures([s])[0]


def parse_measures(strings: Iterable[str | Measure]) -> list[Measure]:
    """Parse many measures, reporting every bad one in a single error so the user fixes them all at once."""
    items = [strings] if isinstance(strings, str) else list(strings)
    parsed: list[Measure] = []
    bad: list[str] = []
    for s in items:
        m = _try_parse(s)
        if m is None:
            bad.append(str(s))
        else:
            parsed.append(m)
    if bad:
        listed = ", ".join(repr(b) for b in bad)
        raise UnknownMeasureError(
            f"unknown measure{'s' if len(bad) > 1 else ''}: {listed}",
            hint="use ir-measures syntax, e.g. nDCG@10, AP(rel=2), RR(rel=2)@10, R@1000, P@5, Judged@10",
        )
    return parsed


def measure_name(m: Measure | str) -> str:
    """The canonical spelling ir-measures prints (`str(measure)`), used as the `measure` column value."""
    return str(m if isinstance(m, Measure) else parse_measure(m))


def is_summed(m: Measure | str) -> bool:
    """True for measures whose across-query aggregate is a sum (NumRet, NumRel, NumQ ...), as in trec_eval's
    `all` rows; the rest are means. The measure's own ir-measures aggregator decides."""
    measure = m if isinstance(m, Measure) else parse_measure(m)
    return type(measure.aggregator()).__name__ == "SumAgg"


def default_measures(kind: str) -> list[Measure]:
    """The standard measure set for `graded` (TREC DL) or `binary` (BEIR) judgments."""
    try:
        names = _DEFAULTS[kind]
    except KeyError:
        raise WorkbenchError(f"unknown qrels kind {kind!r}", hint=f"expected one of: {', '.join(_DEFAULTS)}") from None
    return parse_measures(names)
