"""The one interface every scorer implements (built-in, a user's runtime measures, a third-party plugin).

A scorer declares which measures it computes *exactly* under the workbench's semantics (trec_eval 10 with -c:
scores compared as float64, ties by doc_id descending, every judged query scored, 0 for one the run misses) and
computes them over Arrow tables. The registry (`workbench.scoring.registry`) sends each measure to the first
scorer that declares it; see docs/scorers.md for writing one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyarrow as pa
from ir_measures.measures import Measure

from workbench.errors import WorkbenchError

__all__ = ["RankedPlan", "RankedScoring", "Scorer", "ScorerError"]


class ScorerError(WorkbenchError):
    """A scorer failed or broke its contract (raised, gave NaN, wrong columns, missing queries); names it."""


class Scorer(ABC):
    """Computes some measures per query. Subclass it, set `name` and `version`, implement `supports`/`evaluate`.

    Attributes:
        name: short and unique, e.g. "fast", "ir_measures", a plugin's own.
        version: part of every evaluator id stored with a score: change it when a value could change, and
            stored scores are recomputed on their next use (never served stale).
        examples: measures it serves, proven per query against `reference` by tests/test_scoring_registry.py.
        reference: what `examples` equal per query: "ir_measures" (the default), or a documented deviation.
        trusted: built-ins only. The registry checks the output of every other scorer (columns, every judged
            query once per measure, finite values) and turns its exceptions into a ScorerError naming it.
        sorted_output: `evaluate` already returns rows ordered by group, query_id (byte order), then the order of
            `measures`, so the registry need not sort them.
    """

    name: str = ""
    version: str = ""
    examples: tuple[str, ...] = ()
    reference: str = "ir_measures"
    trusted: bool = False
    sorted_output: bool = False

    @abstractmethod
    def supports(self, m: Measure) -> bool:
        """True when `evaluate` computes `m` exactly (as trec_eval/ir-measures define it); cheap, no I/O."""

    @abstractmethod
    def evaluate(self, run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *,
                 group: str | None = None) -> pa.Table:
        """Per-query values: columns query_id, measure (`str(m)`), value (float64)[, group].

        `run` has query_id, doc_id (string), score (float64)[, group], in any order; `qrels` has query_id,
        doc_id (string), relevance (int64), each pair once. One row per judged query (of `qrels`) x measure
        (x group value): a query the run misses gets the measure's value for an empty ranking. Called with one
        run (or one block of queries of a run, with those queries' qrels) at a time; keep no state between calls
        that changes a value, so a Ray worker computes what the local process computes.
        """

    def evaluator_id(self, m: Measure) -> str:
        """The implementation and versions serving `m`, stored with each score (a change recomputes it)."""
        return f"{self.name} {self.version}"

    def defined_measures(self) -> Mapping[str, Measure]:
        """Measures this scorer adds to the vocabulary, by name (`MyLen` -> its Measure), for names ir-measures
        does not know; `MyLen@10` and `MyLen(param=1)` are made from the named measure."""
        return {}

    def describe(self, measures: Sequence[Measure]) -> str:
        """How an error names this scorer."""
        return f"scorer {self.name!r}"


@dataclass(frozen=True)
class RankedPlan:
    """What `evaluate_ranked` needs read from a stored run: judged rows down to `max_rank` (None: all of them),
    and the rows retrieved per query when `n_ret`."""

    max_rank: int | None
    n_ret: bool


@runtime_checkable
class RankedScoring(Protocol):
    """Optional capability: scoring from the trec_eval positions the store keeps (no full run read or sort).

    `judged` holds a run's judged rows (query_id, rank, relevance[, group]); rows below `max_rank(measures)` may
    be left out; `n_ret` (query_id, n[, group]) only when `needs_n_ret(measures)`. Same output as `evaluate`.
    """

    def max_rank(self, measures: Sequence[Measure]) -> int | None: ...

    def needs_n_ret(self, measures: Sequence[Measure]) -> bool: ...

    def evaluate_ranked(self, judged: pa.Table, n_ret: pa.Table | None, qrels: pa.Table,
                        measures: Sequence[Measure], *, group: str | None = None,
                        groups: pa.Array | None = None) -> pa.Table: ...
