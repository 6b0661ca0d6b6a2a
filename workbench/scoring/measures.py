"""Measure vocabulary: what users type (ir-measures or trec_eval spellings) -> ir-measures objects, parsed once.

Scores are stored under `measure_name(m)`, ir-measures' canonical spelling, so every spelling of one measure
(`MAP`, `AP`, `map`) shares a cache key; what a user sees is the name they asked for (`display_name`), with
trec_eval spellings shown as trec_eval prints them (`P.5` -> `P_5`, `map` -> `map`).

trec_eval names: `map`, `P.5`, `P.5,10` (trec_eval's comma form: several measures), `P` (trec_eval's default
cutoffs), `ndcg_cut.10`, `recall.1000`, `recip_rank`, `num_rel_ret`, `iprec_at_recall.0.1`, `set_F.0.5`,
`ndcg.1=3,2=9` (integer gains), the underscore forms trec_eval prints (`P_5`, `ndcg_cut_10`) and the nicknames
`official`, `all_trec` and `set` (their members ir-measures cannot express are left out and listed, see
`parse_request`). The table follows ir_measures.util.parse_trec_measure (the same names and defaults) but is our
own: that helper prints to stdout, knows only pytrec_eval's older nickname lists, keeps no display names, has no
relevance level (`trec_eval -l`) and neither sorts nor deduplicates parameters as trec_eval does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import ir_measures
from ir_measures.measures import Measure

from workbench.errors import UnknownMeasureError, WorkbenchError

__all__ = [
    "Measure",
    "MeasureRequest",
    "NamedMeasure",
    "default_measures",
    "display_name",
    "is_summed",
    "measure_name",
    "named_measures",
    "parse_measure",
    "parse_measures",
    "parse_request",
    "trec_eval_order",
]

MAX_CUTOFF = 2**31 - 1
"""Largest cutoff accepted: trec_eval and pytrec_eval hold cutoffs in C ints."""

_DEFAULTS: dict[str, tuple[str, ...]] = {
    # TREC DL: graded 0-3 qrels, "relevant" means grade >= 2 for the binary measures.
    "graded": ("nDCG@10", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@100", "R(rel=2)@1000", "Judged@10"),
    # BEIR: binary qrels.
    "binary": ("nDCG@10", "R@100", "R@1000", "AP", "RR@10"),
}

_HINT = ("ir-measures syntax, e.g. nDCG@10, AP(rel=2), RR(rel=2)@10, R@1000, P@5, Judged@10, "
         "or trec_eval names, e.g. map, ndcg_cut.10, P.5,10, recall.1000, recip_rank, all_trec")


class NamedMeasure(NamedTuple):
    """A measure and the name it is shown under: what the user typed, or trec_eval's printed name."""

    name: str
    measure: Measure

    @property
    def canonical(self) -> str:
        """ir-measures' spelling, the store's key."""
        return str(self.measure)


@dataclass(frozen=True)
class MeasureRequest:
    """What a list of user strings asks for: the measures, and the trec_eval names a nickname brought that
    ir-measures cannot express (left out), and whether trec_eval's `runid` line was asked for."""

    measures: tuple[NamedMeasure, ...]
    skipped: tuple[str, ...] = ()
    runid: bool = False


# ------------------------------------------------------------------------------------------ trec_eval names


@dataclass(frozen=True)
class _Trec:
    """One trec_eval measure (family). `build(value)` makes the ir-measures measure for one parameter value;
    None when ir-measures cannot express it. `params`: what trec_eval's `name.p1,p2` parameters are."""

    build: Callable[..., Measure] | None
    params: str = ""  # "" (none) | "cutoff" | "recall" | "beta" | "gains"
    defaults: tuple = ()
    rel: bool = True  # trec_eval -l (the relevance level) applies


_CUTS = (5, 10, 15, 20, 30, 100, 200, 500, 1000)
_M = ir_measures

# In trec_eval 10.0's measure table order (measures.c), which is the order trec_eval prints them in.
_TREC: dict[str, _Trec] = {
    "runid": _Trec(None),
    "num_q": _Trec(lambda: _M.NumQ, rel=False),
    "num_ret": _Trec(lambda: _M.NumRet, rel=False),
    "num_rel": _Trec(lambda: _M.NumRel),
    "num_rel_ret": _Trec(lambda: _M.NumRet(rel=1)),
    "map": _Trec(lambda: _M.AP),
    "gm_map": _Trec(None),
    "Rprec": _Trec(lambda: _M.Rprec),
    "bpref": _Trec(lambda: _M.Bpref),
    "recip_rank": _Trec(lambda: _M.RR),
    "iprec_at_recall": _Trec(lambda r: _M.IPrec @ r, "recall", tuple(i / 10 for i in range(11))),
    "P": _Trec(lambda k: _M.P @ k, "cutoff", _CUTS),
    "relstring": _Trec(None),
    "recall": _Trec(lambda k: _M.R @ k, "cutoff", _CUTS),
    "infAP": _Trec(lambda: _M.infAP),
    "gm_bpref": _Trec(None),
    "Rprec_mult": _Trec(None),
    "utility": _Trec(None),
    "11pt_avg": _Trec(None),
    "binG": _Trec(None),
    "G": _Trec(None),
    "dcg": _Trec(None),
    "ideal_dcg": _Trec(None),
    "ndcg": _Trec(lambda gains=None: _M.nDCG if gains is None else _M.nDCG(gains=gains), "gains", rel=False),
    "ndcg_rel": _Trec(None),
    "Rndcg": _Trec(None),
    "ndcg_cut": _Trec(lambda k: _M.nDCG @ k, "cutoff", _CUTS, rel=False),
    "map_cut": _Trec(lambda k: _M.AP @ k, "cutoff", _CUTS),
    "relative_P": _Trec(None),
    "success": _Trec(lambda k: _M.Success @ k, "cutoff", (1, 5, 10)),
    "set_P": _Trec(lambda: _M.SetP),
    "set_relative_P": _Trec(lambda: _M.SetP(relative=True)),
    "set_recall": _Trec(lambda: _M.SetR),
    "set_map": _Trec(lambda: _M.SetAP),
    "set_F": _Trec(lambda beta=None: _M.SetF if beta is None else _M.SetF(beta=beta), "beta"),
    "num_nonrel_judged_ret": _Trec(None),
    **{name: _Trec(None) for name in (
        "prefs_num_prefs_poss", "prefs_num_prefs_ful", "prefs_num_prefs_ful_ret", "prefs_simp", "prefs_pair",
        "prefs_avgjg", "prefs_avgjg_Rnonrel", "prefs_simp_ret", "prefs_pair_ret", "prefs_avgjg_ret",
        "prefs_avgjg_Rnonrel_ret", "prefs_simp_imp", "prefs_pair_imp", "prefs_avgjg_imp", "map_avgjg", "P_avgjg",
        "Rprec_mult_avgjg", "yaap", "rbp", "rbp_resid", "unj")},
}

# trec_eval 10.0's nicknames (measures.c); members print in table order, as trec_eval prints them.
_NICKNAMES: dict[str, tuple[str, ...]] = {
    "official": ("runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref",
                 "recip_rank", "iprec_at_recall", "P"),
    "all_trec": ("runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref",
                 "recip_rank", "iprec_at_recall", "P", "relstring", "recall", "unj", "rbp", "rbp_resid", "infAP",
                 "gm_bpref", "utility", "11pt_avg", "ndcg", "relative_P", "Rprec_mult", "success", "map_cut",
                 "ndcg_cut", "ndcg_rel", "Rndcg", "binG", "G", "set_P", "set_recall", "set_relative_P", "set_map",
                 "set_F", "num_nonrel_judged_ret"),
    "set": ("runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "utility", "set_P", "set_recall",
            "set_relative_P", "set_map", "set_F"),
}
_ORDER = {name: i for i, name in enumerate(_TREC)}
_BY_LENGTH = sorted(_TREC, key=len, reverse=True)  # `ndcg_cut_10` is ndcg_cut's, not ndcg's
_UINT = re.compile(r"[0-9]+")
_GAIN = re.compile(r"([+-]?[0-9]+)=([+-]?[0-9]+)")


class _Bad(Exception):
    """A user string that names no measure; the message says why."""


def _split_trec(s: str) -> tuple[str, str | None] | None:
    """(trec_eval name, parameter text or None) when `s` is spelled as trec_eval's `name[.params]`."""
    if s in _TREC:
        return s, None
    for name in _BY_LENGTH:
        if len(s) > len(name) + 1 and s.startswith(name) and s[len(name)] in "._":
            rest = s[len(name) + 1:]
            if s[len(name)] == "." or rest[0] in "0123456789.+-":  # `ndcg_cutt.10` is no ndcg parameter
                return name, rest
    return None


def _trec_values(name: str, kind: str, text: str) -> list[tuple[str, object]]:
    """(printed suffix, value) per parameter, sorted and deduplicated as trec_eval does."""
    read = _PARAMETER_READERS.get(kind)
    if read is None:
        raise _Bad(f"trec_eval's {name} takes no parameters")
    return read(name, text)


def _cutoffs(name: str, text: str) -> list[tuple[str, object]]:
    parts = text.split(",")
    if not all(_UINT.fullmatch(p) for p in parts):
        raise _Bad(f"{name} takes cutoffs that are positive integers, e.g. {name}.10 or {name}.5,10")
    cuts = sorted({int(p) for p in parts})
    _check_cutoff(cuts[0])
    _check_cutoff(cuts[-1])
    return [(str(k), k) for k in cuts]


def _recall_levels(name: str, text: str) -> list[tuple[str, object]]:
    try:
        levels = sorted({float(p) for p in text.split(",")})
    except ValueError:
        raise _Bad(f"{name} takes recall levels from 0 to 1, e.g. {name}.0.1,0.5") from None
    if not all(0.0 <= r <= 1.0 for r in levels):
        raise _Bad(f"{name} takes recall levels from 0 to 1, got {text}")
    return [(f"{r:.2f}", r) for r in levels]


def _beta(name: str, text: str) -> list[tuple[str, object]]:
    try:
        beta = float(text)
    except ValueError:
        raise _Bad(f"{name} takes one beta, a positive number, e.g. {name}.0.5") from None
    if not beta > 0 or beta == float("inf"):
        raise _Bad(f"{name} takes one beta, a positive number, got {text}")
    return [(text, beta)]


def _gains(name: str, text: str) -> list[tuple[str, object]]:
    pairs = [_GAIN.fullmatch(p) for p in text.split(",")]
    if not all(pairs):
        raise _Bad(f"{name} takes integer gains per relevance level, e.g. {name}.1=1,2=3 "
                   "(ir-measures computes nDCG over integer grades only)")
    gains = {int(m.group(1)): int(m.group(2)) for m in pairs if m is not None}
    return [(text, gains)]


# how each kind of trec_eval parameter list is read (a spec's `params`); other kinds take none
_PARAMETER_READERS: dict[str, Callable[[str, str], list[tuple[str, object]]]] = {
    "cutoff": _cutoffs, "recall": _recall_levels, "beta": _beta, "gains": _gains,
}


def _check_cutoff(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_CUTOFF:
        raise _Bad(f"cutoff must be an integer from 1 to {MAX_CUTOFF}, got {k!r}")


def _with_rel(m: Measure, rel: int | None) -> Measure:
    """trec_eval -l: the relevance level of a binary measure that does not state its own (`rel=` wins)."""
    info = m.SUPPORTED_PARAMS.get("rel")
    if rel is None or info is None or "rel" in m.params or info.default != 1:
        return m  # nDCG, Judged, NumRet (all retrieved) have no level
    return m(rel=rel)


def _checked(m: Measure) -> Measure:
    """Refuse what ir-measures accepts but cannot compute: cutoff 0 aborts pytrec_eval's C code, a cutoff
    above a C int overflows it, and True is an int to Python (`P(rel=True)@5` would be stored as P@5)."""
    try:
        m.validate_params()  # parse_measure accepts unknown/ill-typed params; validation asserts
    except Exception as exc:
        raise _Bad(str(exc) or "invalid parameters") from None
    for key, value in m.params.items():
        info = m.SUPPORTED_PARAMS[key]
        if isinstance(value, bool) and info.dtype in (int, float):
            raise _Bad(f"{key} must be a number, got {value}")
    if "cutoff" in m.params:
        _check_cutoff(m.params["cutoff"])
    return m


def _parse_trec(s: str, rel: int | None) -> tuple[list[NamedMeasure], list[str], bool]:
    if s in _NICKNAMES:
        members = sorted(_NICKNAMES[s], key=_ORDER.__getitem__)
        named: list[NamedMeasure] = []
        for name in members:
            if _TREC[name].build is not None:
                named += _trec_measures(name, None, rel)
        return named, [n for n in members if _TREC[n].build is None and n != "runid"], "runid" in members
    split = _split_trec(s)
    if split is None:
        raise _Bad("unknown measure")
    name, text = split
    spec = _TREC[name]
    if name == "runid" and text is None:
        return [], [], True
    if spec.build is None:
        raise _Bad(f"trec_eval's {name} cannot be expressed in ir-measures, so it is not offered")
    return _trec_measures(name, text, rel), [], False


def _trec_measures(name: str, text: str | None, rel: int | None) -> list[NamedMeasure]:
    spec = _TREC[name]
    assert spec.build is not None  # the caller refused the measures ir-measures cannot express
    if text is None:
        if spec.params in ("", "gains", "beta"):
            return [NamedMeasure(name, _finish(spec.build(), spec, rel))]
        values = [(f"{v:.2f}" if spec.params == "recall" else str(v), v) for v in spec.defaults]
    else:
        if text == "":
            raise _Bad(f"empty parameter list after {name}")
        values = _trec_values(name, spec.params, text)
    return [NamedMeasure(f"{name}_{suffix}", _finish(spec.build(v), spec, rel)) for suffix, v in values]


def _finish(m: Measure, spec: _Trec, rel: int | None) -> Measure:
    """trec_eval -l sets the level of every measure it applies to (num_rel_ret's `rel=1` included)."""
    return _checked(m(rel=rel) if spec.rel and rel is not None else m)


def _parse_ir(s: str, rel: int | None) -> Measure | None:
    try:
        m = ir_measures.parse_measure(s)
    except Exception:  # ir_measures raises NameError, ValueError, SyntaxError, TypeError ...
        return None
    try:
        m.validate_params()
    except Exception:
        return None  # `P` alone: trec_eval's P (its default cutoffs), not an incomplete ir-measures P
    return _checked(_with_rel(m, rel))


@lru_cache(maxsize=4096)
def _parse_one(s: str, rel: int | None) -> tuple[tuple[NamedMeasure, ...], tuple[str, ...], bool] | str:
    """One user string: (measures, skipped trec_eval names, runid asked) or the reason it is refused."""
    text = s.strip()
    if not text:
        return "empty measure name"
    try:
        m = _parse_ir(text, rel)
        if m is not None:  # shown as typed, without the whitespace (a name must fit one field of a line)
            return (NamedMeasure(re.sub(r"\s+", "", text), m),), (), False
        named, skipped, runid = _parse_trec(text, rel)
    except _Bad as exc:
        return str(exc)
    return tuple(named), tuple(skipped), runid


def parse_request(strings: Iterable[str | Measure], *, rel: int | None = None) -> MeasureRequest:
    """Parse the measures a user asked for, in their order, each once (the first spelling of a measure names it).

    Every bad string is reported in one error, so the user fixes them all at once. `rel`: trec_eval's `-l`, the
    relevance level of binary measures that do not state their own.
    """
    items = [strings] if isinstance(strings, (str, Measure)) else list(strings)
    named: dict[str, NamedMeasure] = {}
    skipped: list[str] = []
    runid = False
    bad: list[tuple[str, str]] = []
    for s in items:
        if isinstance(s, Measure):
            try:
                m = _checked(_with_rel(s, rel))
            except _Bad as exc:
                bad.append((str(s), str(exc)))
                continue
            named.setdefault(str(m), NamedMeasure(str(m), m))
            continue
        got = _parse_one(str(s), rel)
        if got == "unknown measure":  # a custom or plugin measure's name? Not cached: the registry in use varies
            got = _parse_added(str(s), rel)
        if isinstance(got, str):
            bad.append((str(s), got))
            continue
        for nm in got[0]:
            named.setdefault(nm.canonical, nm)
        skipped += [n for n in got[1] if n not in skipped]
        runid = runid or got[2]
    if bad:
        raise _error(bad)
    return MeasureRequest(tuple(named.values()), tuple(skipped), runid)


def trec_eval_order(measures: Sequence[NamedMeasure]) -> tuple[NamedMeasure, ...]:
    """The measures in the order trec_eval prints them (its measure table's order, cutoffs and recall levels
    ascending), whatever order the -m options came in, when every name is a trec_eval name; else as given
    (an ir-measures name has no place in trec_eval's order)."""
    keys = []
    for nm in measures:
        split = _split_trec(nm.name)  # printed names: map, P_5, ndcg_cut_10, iprec_at_recall_0.10
        if split is None or _TREC[split[0]].build is None:
            return tuple(measures)
        family, param = split
        level = float(param) if param is not None and _TREC[family].params in ("cutoff", "recall") else 0.0
        keys.append((_ORDER[family], level))
    return tuple(nm for _, nm in sorted(zip(keys, measures, strict=True), key=lambda kv: kv[0]))


def _parse_added(s: str, rel: int | None) -> tuple[tuple[NamedMeasure, ...], tuple[str, ...], bool] | str:
    """`_parse_one` for the names of a user's measures files and of plugins (workbench.scoring.registry)."""
    # cycle: the registry imports this module
    from workbench.scoring.registry import parse_added

    text = s.strip()
    m = parse_added(text)
    if m is None:
        return "unknown measure"
    try:
        m = _checked(_with_rel(m, rel))
    except _Bad as exc:
        return str(exc)
    return (NamedMeasure(re.sub(r"\s+", "", text), m),), (), False


def _error(bad: list[tuple[str, str]]) -> UnknownMeasureError:
    unknown = [s for s, why in bad if why == "unknown measure"]
    other = [f"{s!r}: {why}" for s, why in bad if why != "unknown measure"]
    parts = ([f"unknown measure{'s' if len(unknown) > 1 else ''}: {', '.join(map(repr, unknown))}"] if unknown
             else []) + [f"bad measure {o}" for o in other]
    return UnknownMeasureError("; ".join(parts), hint=f"use {_HINT}" if unknown else None)


def named_measures(strings: Iterable[str | Measure], *, rel: int | None = None) -> list[NamedMeasure]:
    """`parse_request(...).measures`: (name to show, measure) pairs, each measure once."""
    return list(parse_request(strings, rel=rel).measures)


def parse_measure(s: str | Measure) -> Measure:
    """Parse one measure string (`nDCG@10`, `AP(rel=2)`, `map`, `ndcg_cut.10`); a Measure passes through checked."""
    (named,) = _single(s)
    return named.measure


def _single(s: str | Measure) -> list[NamedMeasure]:
    got = named_measures([s])
    if len(got) != 1:
        raise UnknownMeasureError(f"{str(s)!r} names {len(got)} measures; give one")
    return got


def parse_measures(strings: Iterable[str | Measure]) -> list[Measure]:
    """Parse many measures (ir-measures or trec_eval spellings; `P.5,10` and nicknames give several), each once,
    reporting every bad one in a single error."""
    return [nm.measure for nm in parse_request(strings).measures]


def display_name(s: str | Measure) -> str:
    """The name a measure string is shown under: as typed for ir-measures spellings (`NumRelRet`, `MAP`),
    as trec_eval prints it for trec_eval spellings (`map`, `P.5` -> `P_5`)."""
    return _single(s)[0].name


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
