"""Names users give to collections and runs; checked so they stay safe as file names in exports."""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import WorkbenchError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=,-]{0,199}")


def check_name(name: str, what: str = "run") -> str:
    """Reject names that could escape a folder when used as a file name ('/', '..', control characters).

    fullmatch, not match with '$': '$' also matches before a final newline, which let 'abc\\n' through.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise WorkbenchError(
            f"invalid {what} name {name!r}: use letters, digits and . _ @ + = , - (no '/', no '..', "
            "no spaces or control characters, at most 200 characters, starting with a letter or digit)"
        )
    return name


def run_name_for(path: str | Path) -> str:
    """The file stem, without compression and run suffixes (bm25.trec.gz -> bm25)."""
    name = Path(path).name
    for suffix in (".gz", ".trec", ".run", ".txt", ".tsv"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name
