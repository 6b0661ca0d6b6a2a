"""Benchmarks: named, ordered groups of collections, the unit a cross-collection leaderboard ranks systems over.

A benchmark names its collections and does not own them: removing a collection leaves the benchmark naming it (the
leaderboard then says which is gone), and removing a benchmark touches no collection, run or score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.errors import ConflictError, NotFoundError
from workbench.store.collections import _get as _get_collection
from workbench.store.connection import Store, one


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    collections: tuple[str, ...]  # in the order given (the table's column order)
    description: str
    source: dict  # where it was defined: {"cli": true} or {"manifest": path}
    created_at: str

    def to_dict(self) -> dict:
        return {"name": self.name, "collections": list(self.collections), "description": self.description,
                "source": self.source, "created_at": str(self.created_at)}


def _get(con, name: str) -> BenchmarkInfo:
    row = one(con.execute("SELECT name, description, source, created_at FROM benchmarks WHERE name = ?", [name]))
    if row is None:
        known = [r[0] for r in con.execute("SELECT name FROM benchmarks ORDER BY name").fetchall()]
        raise NotFoundError(f"no benchmark named {name!r}",
                            hint=f"known: {', '.join(known)}" if known else
                            "define one with `workbench benchmark add NAME COLLECTION ...`")
    members = con.execute("SELECT collection FROM benchmark_collections WHERE benchmark = ? ORDER BY position",
                          [name]).fetchall()
    return BenchmarkInfo(row[0], tuple(r[0] for r in members), row[1] or "", json.loads(row[2] or "{}"),
                         str(row[3]))


def put_benchmark(store: Store, name: str, collections: Sequence[str], *, description: str = "",
                  source: dict | None = None, replace: bool = False) -> tuple[BenchmarkInfo, bool]:
    """Define a benchmark in one transaction: (info, changed). Every collection must be stored; the same
    collections (in the same order) and description again is a no-op; others under the name a ConflictError unless
    `replace`."""
    with store.writer(what=f"benchmark {name!r}") as con:
        for collection in collections:
            _get_collection(con, collection)  # an unknown collection is named before anything is written
        exists = one(con.execute("SELECT 1 FROM benchmarks WHERE name = ?", [name])) is not None
        if exists:
            current = _get(con, name)
            if current.collections == tuple(collections) and current.description == description:
                return current, False
            if not replace:
                raise ConflictError(
                    f"benchmark {name!r} already exists with collections {', '.join(current.collections)}",
                    hint="use --replace to redefine it, or give the benchmark another name")
            _delete(con, name)
        con.execute("INSERT INTO benchmarks (name, description, source) VALUES (?, ?, ?)",
                    [name, description, json.dumps(source or {}, sort_keys=True)])
        con.executemany("INSERT INTO benchmark_collections VALUES (?, ?, ?)",
                        [[name, i, c] for i, c in enumerate(collections)])
        return _get(con, name), True


def get_benchmark(store: Store, name: str) -> BenchmarkInfo:
    with store.reader() as con:
        return _get(con, name)


def list_benchmarks(store: Store) -> list[BenchmarkInfo]:
    with store.reader() as con:
        names = [r[0] for r in con.execute("SELECT name FROM benchmarks ORDER BY name").fetchall()]
        return [_get(con, n) for n in names]


def delete_benchmark(store: Store, name: str) -> None:
    """Forget a benchmark's definition (its collections, runs and scores stay)."""
    with store.writer(what=f"the removal of benchmark {name!r}") as con:
        _get(con, name)
        _delete(con, name)


def _delete(con, name: str) -> None:
    con.execute("DELETE FROM benchmark_collections WHERE benchmark = ?", [name])
    con.execute("DELETE FROM benchmarks WHERE name = ?", [name])
