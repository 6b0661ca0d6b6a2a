"""The workbench's own record of a run inside a TREC file's ir_metadata header.

`runs export` writes a run's stored ir_metadata header back verbatim and appends, as its last top-level key, a
`workbench:` mapping with what the store knows about the run (kind, parent, depth, params, software). Ingesting
that file takes those values (options given on the command line win) and stores the header without the
`workbench:` block, so export then ingest into another store gives the same metadata, header included. Other
ir_metadata readers see one more top-level key, which the format allows.
"""

from __future__ import annotations

import yaml

from workbench.io import _yaml

WORKBENCH_KEY = "workbench"
RECORDED = ("run", "collection", "kind", "parent", "depth", "params", "software")


def join_header(header: str | None, record: dict) -> str:
    """The YAML body of an ir_metadata block: `header` as stored, then the `workbench:` record (empty values
    left out)."""
    kept = {k: record[k] for k in RECORDED if record.get(k) not in (None, "", {}, [])}
    body = yaml.safe_dump({WORKBENCH_KEY: kept}, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return (header.rstrip("\n") + "\n" if header and header.strip() else "") + body


def split_header(header: str | None) -> tuple[str | None, dict]:
    """(`header` without its trailing `workbench:` block, that block's values); ({}, header unchanged) when there
    is no such block or it is not a mapping."""
    if not header:
        return header, {}
    lines = header.split("\n")
    starts = [i for i, line in enumerate(lines) if line.rstrip() == f"{WORKBENCH_KEY}:"]
    if not starts:
        return header, {}
    i = starts[-1]
    j = next((k for k in range(i + 1, len(lines))
              if lines[k] and not lines[k][0].isspace() and not lines[k].startswith("#")), len(lines))
    try:
        value = _yaml.safe_load("\n".join(lines[i:j]))[WORKBENCH_KEY]  # bounded: an alias bomb is a YAMLError
    except (yaml.YAMLError, TypeError, KeyError):
        return header, {}
    if not isinstance(value, dict):
        return header, {}
    rest = "\n".join(lines[:i] + lines[j:])
    return (rest.rstrip("\r\n ") + "\n" if rest.strip() else None), value
