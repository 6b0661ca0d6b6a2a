"""The Ray engine: units of work as Ray Data tasks on a cluster (or a Ray instance started on this machine).

Each unit is one block of a Ray Data dataset, mapped by one task (`map_batches` with batch_size=1), so a unit is
the unit of scheduling and of retry: a worker killed mid-unit (SIGKILL, a lost node) has its unit run again
elsewhere (Ray Data retries tasks lost to system failures without limit; an error the unit raises is not retried
and ends the job), and a unit's result is only taken once. Units should be big (a run, or a query
block of a big run): each costs a task, and Ray Data's own start-up is a few seconds per job.

Output hygiene: Ray Data's progress bars and execution logs are turned off, workers' prints are not forwarded, and
file descriptor 1 is pointed at stderr while the engine is connected, so nothing Ray writes can end up in a
command's stdout (`--json`).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from workbench.errors import ProviderUnavailableError, WorkbenchError

INSTALL_HINT = "pip install 'workbench[scale]'"
NODE_COLUMN = "__workbench_node"


class RayEngine:
    """Maps units over a Ray cluster with Ray Data; joins the cluster on first use and leaves it on close()."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.units = 0
        self.nodes: set[str] = set()
        self._ray: Any = None
        self._shared: dict[str, Any] = {}
        self._saved_stdout: int | None = None

    # ------------------------------------------------------------------------------------------------ cluster
    def _connect(self):
        if self._ray is not None:
            return self._ray
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if address and _is_loopback(address) and "ray" not in sys.modules:
            # Ray rewrites a loopback address to the machine's own IP before connecting (for multi-node use), so a
            # cluster bound to 127.0.0.1 only would be unreachable; this switch (read when ray is imported) keeps
            # the driver on loopback. It changes nothing else in Ray.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
            import ray.data
        except ImportError as e:
            raise ProviderUnavailableError("the ray engine needs Ray", hint=INSTALL_HINT) from e
        self._stdout_to_stderr()
        _quiet(ray)
        try:
            if ray.is_initialized():
                pass
            elif address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            else:  # a Ray instance on this machine for this command only: loopback, no dashboard
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR, _node_ip_address="127.0.0.1")
        except Exception as e:  # ConnectionError, ValueError, RuntimeError: one line, whatever Ray raised
            self._restore_stdout()
            where = f"at {address}" if address else "on this machine"
            text = " ".join(str(e).split())[:300]
            raise WorkbenchError(f"cannot start or reach the Ray cluster {where}: {text}") from None
        self._ray = ray
        return ray

    def _stdout_to_stderr(self) -> None:
        if self._saved_stdout is None:
            sys.stdout.flush()
            self._saved_stdout = os.dup(1)
            os.dup2(2, 1)

    def _restore_stdout(self) -> None:
        if self._saved_stdout is not None:
            sys.stdout.flush()
            os.dup2(self._saved_stdout, 1)
            os.close(self._saved_stdout)
            self._saved_stdout = None

    def close(self) -> None:
        """Leave the cluster (and stop the Ray instance this engine started, if any); stdout is restored."""
        try:
            if self._ray is not None:
                self._shared.clear()
                self._ray.shutdown()
                self._ray = None
        finally:
            self._restore_stdout()

    def describe(self) -> dict:
        out = {"engine": "ray", "units": self.units, "nodes": len(self.nodes)}
        if self._ray is not None:
            resources = self._ray.cluster_resources()
            out["cluster_cpus"] = int(resources.get("CPU", 0))
            out["cluster_nodes"] = len([n for n in self._ray.nodes() if n.get("Alive")])
        return out

    def parallelism(self) -> int:
        return max(1, int(self._connect().cluster_resources().get("CPU", 1)))

    # --------------------------------------------------------------------------------------------------- work
    def share(self, obj: Any) -> str:
        """Put `obj` in the cluster's object store once; units carry the returned key."""
        ray = self._connect()
        key = f"shared-{len(self._shared)}"
        self._shared[key] = ray.put(obj)
        return key

    def map(self, fn: Callable, units: Sequence[dict], *, label: str = "") -> Iterator[pa.Table]:
        """fn(unit, get) for every unit on the cluster; each result as its task completes."""
        if not units:
            return
        ray = self._connect()  # ray.data is imported with it
        target = f"{fn.__module__}:{fn.__qualname__}"
        if fn is not _resolve(target):
            raise ValueError(f"{target} is not importable by name; Ray workers could not run it")
        items = [{"unit": json.dumps(u)} for u in units]
        self.units += len(items)
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _run_unit, batch_size=1, batch_format="pyarrow", zero_copy_batch=True,
            fn_kwargs={"target": target, "shared": dict(self._shared)}, num_cpus=1)
        try:
            for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                if NODE_COLUMN in table.column_names:
                    self.nodes.update(table[NODE_COLUMN].unique().to_pylist())
                    table = table.drop_columns([NODE_COLUMN])
                yield table
        except WorkbenchError:
            raise
        except Exception as e:
            raise _user_error(e) or WorkbenchError(
                f"the Ray job ({label or target}) failed: {' '.join(str(e).split())[:300]}") from None


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _quiet(ray) -> None:
    """No progress bars, no execution summaries, no per-operator logs on the terminal."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    ctx.verbose_stats_logs = False
    for name in ("ray", "ray.data", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _resolve(target: str) -> Callable:
    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _run_unit(batch: pa.Table, target: str, shared: dict[str, Any]) -> pa.Table:
    """One unit on a worker: resolve the function by name, give it the unit and a getter for shared objects,
    and tag its result with the node that computed it."""
    import ray

    fn = _resolve(target)
    cache: dict[str, Any] = {}

    def get(key: str) -> Any:
        if key not in cache:
            cache[key] = ray.get(shared[key])
        return cache[key]

    (text,) = batch.column("unit").to_pylist()
    out = fn(json.loads(text), get)
    node = ray.get_runtime_context().get_node_id()
    return out.append_column(NODE_COLUMN, pa.array([node] * out.num_rows, pa.string()))


def _user_error(exc: BaseException) -> WorkbenchError | None:
    """A WorkbenchError a unit raised on a worker, dug out of Ray's wrappers (so its one line reaches the user)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, WorkbenchError):
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None
