"""The store's interface (workbench/store/interface.py) names every operation the package offers.

mypy checks that the DuckDB package implements each declared operation with the same signature (the
`_implements` line in workbench/store/__init__.py); this test checks the other direction, so a function added to
the store's public names without being declared fails here.
"""

from __future__ import annotations

import inspect

import workbench.store as store
from workbench.store.interface import StoreInterface

NOT_OPERATIONS = {"default_db_path", "same_metadata"}  # no handle: a path default and a pure comparison


def _operations() -> set[str]:
    return {n for n in store.__all__ if inspect.isfunction(getattr(store, n))} - NOT_OPERATIONS


def test_every_public_store_function_is_declared_in_the_interface():
    declared = {n for n, v in vars(StoreInterface).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert _operations() == declared


def test_every_operation_takes_the_handle_first():
    for name in _operations():
        first = next(iter(inspect.signature(getattr(store, name)).parameters.values()))
        assert first.name == "store" and first.annotation in (store.Store, "Store"), name


def test_each_operation_has_the_declared_parameters():
    """mypy lets an implementation add optional parameters the interface does not declare; this does not."""
    for name in _operations():
        declared = list(inspect.signature(getattr(StoreInterface, name)).parameters)[1:]  # without self
        assert list(inspect.signature(getattr(store, name)).parameters) == declared, name
