"""Where work runs: in this process (`local`) or on a Ray cluster (`ray`), chosen here and nowhere else.

An engine maps a function over units of work (a run, a query block of a run, a shard of a corpus) and streams
back one Arrow table per unit. Objects every unit reads (the qrels of a query block) are `share`d once: in
process they are the objects themselves; on Ray they go to the object store once and each task reads them there
(a broadcast, not a copy per task). The function must be importable by name on every worker (a module-level
function of the workbench), since Ray ships it by reference.

    engine = get_engine("ray", address="auto")
    handle = engine.share(qrels)
    for table in engine.map(score_unit, units, label="scoring"):
        ...
    engine.close()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import pyarrow as pa

from workbench.errors import WorkbenchError

ENGINES = ("local", "ray")

UnitFn = Callable[[dict, Callable[[Any], Any]], pa.Table]
"""fn(unit, get): `unit` is a JSON-able dict; `get(handle)` returns a shared object."""


class Engine(Protocol):
    name: str

    def share(self, obj: Any) -> Any:
        """A handle on `obj` that units may carry and functions `get`."""

    def map(self, fn: UnitFn, units: Sequence[dict], *, label: str = "") -> Iterator[pa.Table]:
        """fn(unit, get) for every unit, results as they complete (in any order)."""

    def describe(self) -> dict:
        """What ran the work (for reports): engine name, nodes, CPUs."""

    def parallelism(self) -> int:
        """How many units can run at once (the cluster's CPUs; 1 in process)."""

    def close(self) -> None: ...


class LocalEngine:
    """Every unit in this process, one after the other."""

    name = "local"

    def __init__(self) -> None:
        self.units = 0

    def share(self, obj: Any) -> Any:
        return obj

    def map(self, fn: UnitFn, units: Sequence[dict], *, label: str = "") -> Iterator[pa.Table]:
        for unit in units:
            self.units += 1
            yield fn(unit, _identity)

    def describe(self) -> dict:
        return {"engine": "local", "units": self.units, "nodes": 1}

    def parallelism(self) -> int:
        return 1

    def close(self) -> None:
        return None


def _identity(obj: Any) -> Any:
    return obj


def get_engine(name: str = "local", *, address: str | None = None, num_cpus: int | None = None) -> Engine:
    """The engine called `name`: "local", or "ray" on the cluster at `address` (None: $RAY_ADDRESS when set,
    else a Ray instance started on this machine for the duration of the command). Ray is imported (and the
    cluster joined) only when the first work is mapped."""
    if name == "local":
        if address is not None:
            raise WorkbenchError("a Ray address needs the ray engine (--engine ray)")
        return LocalEngine()
    if name == "ray":
        # lazy: Ray is the optional `scale` extra
        from workbench.engine.ray_engine import RayEngine

        return RayEngine(address=address, num_cpus=num_cpus)
    raise WorkbenchError(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}")
