"""Retrieval evaluation workbench: store runs, score them exactly like trec_eval, analyse and compare.

The library (this package minus `cli` and `app`) never imports a face, and scoring never imports torch,
Java or pyserini, so the CLI and the dashboard start fast. From Python: `workbench.open(path)` (see workbench.api).
"""

from workbench.errors import WorkbenchError

__version__ = "0.1.0"


__all__ = ["Workbench", "WorkbenchError"]  # not `open`: a star import must not shadow the builtin


def __getattr__(name: str):
    """`workbench.open` and `workbench.Workbench` (the notebook API, workbench.api), imported on first use so that
    `import workbench` stays cheap."""
    if name in ("open", "Workbench"):
        # lazy: `import workbench` stays cheap (the API loads the store and scoring)
        from workbench import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
