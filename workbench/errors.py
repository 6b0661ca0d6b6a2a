"""One exception root for every user mistake; the faces (CLI, dashboard) map it to a one-line message.

Each error carries where it happened (file and line when there is one) and what was expected, so the
message alone tells the user what to fix.
"""

from __future__ import annotations

from pathlib import Path


class WorkbenchError(Exception):
    """A user-facing error: printed as one line, never as a traceback."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class InputFormatError(WorkbenchError):
    """A file the user gave us is malformed; names the file and, where it applies, the 1-based line."""

    kind = "input"

    def __init__(self, path: str | Path, line: int | None, message: str, *, hint: str | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        shown = self.path if self.path.isprintable() else repr(self.path)  # a newline in a name stays one line
        where = f"{shown}:{line}" if line is not None else shown
        super().__init__(f"{where}: {message}", hint=hint)


class RunFormatError(InputFormatError):
    """A TREC run file violates the 6-column format or trec_eval's rules (e.g. a docid twice in a query)."""


class QrelsFormatError(InputFormatError):
    """A qrels file (TREC or BEIR TSV) is malformed."""


class TopicsFormatError(InputFormatError):
    """A topics/queries file (TSV, BEIR JSONL, TREC topics) is malformed."""


class DocsFormatError(InputFormatError):
    """A documents file (BEIR corpus JSONL, TSV) is malformed."""


class ManifestError(InputFormatError):
    """data_manifest.yaml is invalid: unknown keys, missing files, cycles."""


class UnknownMeasureError(WorkbenchError):
    """A measure string ir-measures cannot parse."""


class StoreError(WorkbenchError):
    """The store refused an operation (name taken, unknown run/collection, locked too long)."""


class NotFoundError(StoreError):
    """A named collection, run or score does not exist in the store."""


class ConflictError(StoreError):
    """A different file under an existing run name without --replace, or a similar clash."""


class StoreLockedError(StoreError):
    """Another process held the single-writer lock for longer than we were willing to wait."""


class DatasetUnavailableError(WorkbenchError):
    """An ir_datasets id cannot be loaded here (e.g. it needs a download and we are offline)."""


class ProviderUnavailableError(WorkbenchError):
    """An optional back end (pyserini, faiss, torch, a model directory) is missing; the hint says how to get it."""


class AnalysisError(WorkbenchError):
    """An analysis cannot run on these inputs (no common queries, a reranked run without its first stage)."""
