"""The retrieval steps' parameters, declared once: read by the manifest's validation and by the CLI's options.

Each step (bm25, dense, fuse, rerank) lists its parameters with their type, range or choices, default, help and
CLI spelling, so `data_manifest.yaml`, `workbench retrieve|fuse|rerank` and `produce()` accept the same names and
refuse the same values, and a mistyped or CLI-spelled manifest key (`bb: 0.4`, `encoder: minilm`) is refused with
the right name suggested before any step of a build runs. A step registry (issue 18) adds each step's function
beside its schema; nothing here imports the retrieval libraries.
"""

from __future__ import annotations

import argparse
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError
from workbench.numbers import DECIMAL_TEXT, INT_TEXT

INT_MAX = 2**31 - 1
"""The largest count a step accepts (hits, depth, batch size): Anserini and faiss take Java/C ints."""


class ParamError(WorkbenchError):
    """A step parameter is unknown or has a bad value; `key` is the parameter as the user spelled it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Param:
    """One parameter of a step: its name (the manifest key and the function's keyword) and what it accepts."""

    name: str
    kind: str  # "int", "float", "str", "floats" (a list of numbers)
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False  # None (YAML null, or "none" among choices) is a value
    cli: str | None = None  # the CLI option when it is not --<name with dashes>; None with `on_cli=False`
    on_cli: bool = True  # exposed as a CLI option (the rest are manifest-only settings)

    @property
    def option(self) -> str:
        return self.cli or "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """The value if this parameter accepts it (lists as lists), else ParamError naming what it accepts."""
        if value is None or (self.nullable and value == "none"):
            if self.nullable:
                return None
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got null")
        if self.kind == "floats":
            if not isinstance(value, list | tuple) or not value:
                raise ParamError(self.name, f"{self.name} must be a list of numbers, got {value!r}")
            return [self._number(v, float) for v in value]
        if self.kind in ("int", "float"):
            return self._number(value, int if self.kind == "int" else float)
        if not isinstance(value, str):
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        return value

    def _number(self, value: Any, want: type) -> int | float:
        ok = isinstance(value, int) if want is int else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ParamError(self.name, f"{self.name} must be {self.describe()}, got {value!r}")
        return value

    def describe(self, *, cli: bool = False) -> str:
        """What the parameter accepts; `cli`: said of one typed value (an option has no null, a list no brackets)."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        kinds = {"int": "an integer", "float": "a number", "str": "a string",
                 "floats": "a number" if cli else "a list of numbers"}
        what = kinds[self.kind]
        if self.minimum is not None and self.maximum is not None:
            what += f" from {self.minimum} to {self.maximum}" if self.kind == "int" else \
                f" in [{self.minimum:g}, {self.maximum:g}]"
        elif self.minimum is not None:
            what += f" >= {self.minimum:g}"
        return what + (" or null" if self.nullable and not cli else "")

    def add_option(self, parser: argparse.ArgumentParser) -> None:
        """This parameter as a CLI option (dest = the parameter name), checked by the same rule."""
        kwargs: dict[str, Any] = {"dest": self.name, "default": self.default, "help": self.help}
        if self.kind == "floats":
            kwargs.update(type=self._cli_value(float), nargs="+", metavar="X", default=None)
        elif self.choices is not None:
            kwargs["choices"] = self.choices
        else:
            kwargs["type"] = self._cli_value({"int": int, "float": float, "str": str}[self.kind])
        parser.add_argument(self.option, **kwargs)

    def _cli_value(self, convert: Callable[[str], Any]) -> Callable[[str], Any]:
        pattern = INT_TEXT if convert is int else DECIMAL_TEXT if convert is float else None

        def parse(text: str) -> Any:
            if pattern is not None and not pattern.fullmatch(text):
                raise argparse.ArgumentTypeError(f"expected {self.describe(cli=True)}, got {text!r}")
            try:
                value = convert(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected {self.describe(cli=True)}, got {text!r}") from None
            try:
                return self._number(value, convert) if convert in (int, float) else value
            except ParamError:
                raise argparse.ArgumentTypeError(f"expected {self.describe(cli=True)}, got {text!r}") from None
        return parse


@dataclass(frozen=True)
class StepSpec:
    """A retrieval step's name, what kind of pipeline step it is, and its parameters."""

    name: str
    kind: str  # "retrieve" | "fuse" | "rerank"
    params: tuple[Param, ...]
    check_inputs: Callable[[dict, int], None] | None = None  # cross-parameter rules given the number of inputs
    cli_spellings: Mapping[str, str] = field(default_factory=dict)  # a CLI-only word -> the parameter it sets

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def checked(self, params: Mapping[str, Any], n_inputs: int = 0) -> dict:
        """`params` as given (unknown keys refused with the right name suggested, values checked)."""
        names = [p.name for p in self.params]
        out = {}
        for key, value in params.items():
            if key not in names:
                raise ParamError(str(key), f"unknown parameter {key!r} of {self.name}{self._suggest(str(key))}; "
                                           f"expected one of {', '.join(names)}")
            out[key] = self.param(key).check(value)
        if self.check_inputs is not None:
            self.check_inputs(out, n_inputs)
        return out

    def _suggest(self, key: str) -> str:
        spelled = key.lstrip("-").replace("-", "_")
        target = self.cli_spellings.get(spelled) or (spelled if spelled in {p.name for p in self.params} else None)
        if target is not None:
            return f" (the CLI's {'--' + key.lstrip('-')}; in the manifest it is {target!r})"
        close = difflib.get_close_matches(key, [p.name for p in self.params], n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        for p in self.params:
            if p.on_cli:
                p.add_option(parser)

    def from_cli(self, args: argparse.Namespace) -> dict:
        """The step's parameters from parsed CLI options; an option left unset with no default is left out."""
        out = {}
        for p in self.params:
            if p.on_cli and getattr(args, p.name, None) is not None:
                value = getattr(args, p.name)
                out[p.name] = None if (p.nullable and value == "none") else value
        return out


def _fuse_inputs(params: dict, n_inputs: int) -> None:
    method = params.get("method", "rrf")
    if method == "interpolation" and n_inputs and n_inputs != 2:
        raise ParamError("method", f"interpolation fuses exactly two runs, got {n_inputs}")
    weights = params.get("weights")
    if weights is not None and n_inputs and len(weights) != n_inputs:
        raise ParamError("weights", f"weights must give one number per input run ({n_inputs}), got {len(weights)}")


_HITS = Param("hits", "int", 1000, "documents kept per query (default 1000)", minimum=1, maximum=INT_MAX)
_BATCH = Param("batch_size", "int", 64, "texts per encoder batch (default 64)", minimum=1, maximum=4096)

BM25 = StepSpec("bm25", "retrieve", (
    Param("k1", "float", 0.9, "BM25 k1 (default 0.9, Anserini's BEIR setting)", minimum=0, maximum=1000),
    Param("b", "float", 0.4, "BM25 b (default 0.4)", minimum=0, maximum=1),
    _HITS,
    Param("fields", "str", "flat", "flat (title + text in one field) or multifield", choices=("flat", "multifield"),
          on_cli=False),
))
DENSE = StepSpec("dense", "retrieve", (
    Param("model", "str", "minilm", "'minilm' (bundled all-MiniLM-L6-v2) or a model directory", cli="--encoder"),
    _HITS,
    Param("index", "str", "flat", "faiss index: flat (exact) or hnsw", choices=("flat", "hnsw")),
    _BATCH,
    Param("query_prefix", "str", "", "text put before each query (e.g. 'query: ' for E5)", on_cli=False),
    Param("doc_prefix", "str", "", "text put before each document (e.g. 'passage: ')", on_cli=False),
    Param("hnsw_m", "int", 32, "HNSW neighbours per node", minimum=2, maximum=INT_MAX, on_cli=False),
    Param("ef_construction", "int", 200, "HNSW build beam", minimum=1, maximum=INT_MAX, on_cli=False),
    Param("ef_search", "int", None, "HNSW search beam (default max(hits, 128))", minimum=1, maximum=INT_MAX,
          nullable=True, on_cli=False),
), cli_spellings={"encoder": "model"})
FUSE = StepSpec("fuse", "fuse", (
    Param("method", "str", "rrf", "rrf, combsum, combmnz or interpolation (default rrf)",
          choices=("rrf", "combsum", "combmnz", "interpolation")),
    Param("k", "int", 60, "RRF k (default 60)", minimum=0, maximum=INT_MAX),
    Param("norm", "str", None, "score normalisation for combsum/combmnz/interpolation (default minmax)",
          choices=("minmax", "zscore", "rank", "none"), nullable=True),
    Param("weights", "floats", None, "one weight per input run", minimum=-1e6, maximum=1e6, nullable=True),
    Param("depth", "int", 1000, "documents taken from each input per query (default 1000)", minimum=1,
          maximum=INT_MAX, nullable=True),
    Param("hits", "int", 1000, "documents kept per query in the fused run (default 1000)", minimum=1,
          maximum=INT_MAX, nullable=True, on_cli=False),
), check_inputs=_fuse_inputs)
RERANK = StepSpec("rerank", "rerank", (
    Param("depth", "int", 100, "documents per query re-scored (default 100)", minimum=1, maximum=INT_MAX),
    Param("model", "str", "minilm", "'minilm' or a local sentence-transformers/CrossEncoder dir"),
    _BATCH,
))

STEPS: dict[str, StepSpec] = {s.name: s for s in (BM25, DENSE, FUSE, RERANK)}
"""Every step by name (a retriever's name for retrieve steps)."""


def step_spec(step: str, retriever: str | None = None) -> StepSpec:
    """The spec of a pipeline step: `retrieve` with its retriever, else `fuse` or `rerank`."""
    name = retriever if step == "retrieve" else step
    if name not in STEPS:
        known = ", ".join(s.name for s in STEPS.values() if (s.kind == "retrieve") == (step == "retrieve"))
        raise WorkbenchError(f"unknown {'retriever' if step == 'retrieve' else 'step'} {name!r}; expected {known}")
    return STEPS[name]
