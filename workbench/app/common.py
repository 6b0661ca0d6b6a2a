"""What every page shares: the selected store, collection and qrels, number formats, messages.

The router (app/main.py) resolves the store, the collection and the qrels to score against (`sidebar_judgments`)
in the sidebar once per rerun and puts a `Context` in session state; pages read it with `context()` and pass its
`qrels` and `unjudged` to every read of scores. Widgets that define a view are bound to URL query parameters
(`bind="query-params"`, the key is the parameter name), so copying the URL shares the view.

User text (run, collection and measure names, query ids, topic and document text, warnings and error messages that
quote them) reaches Streamlit's Markdown renderer only through `plain()`; plain-text elements (dataframe cells,
selectbox and multiselect options, `st.code`, `st.json`, chart text) take it as it is.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from workbench.app import data
from workbench.model import RunInfo
from workbench.store import DEFAULT_QRELS

FMT = "%.4f"
"""Numbers as trec_eval prints them."""
D3_FMT = ".4f"
_CTX_KEY = "_workbench_ctx"


@dataclass(frozen=True)
class Context:
    db: str
    token: data.Token
    collection: str | None
    qrels: str | None = None  # a named qrels set of the collection; None: its own ("default")
    judged_only: bool = False  # trec_eval -J: unjudged documents dropped from each ranking

    @property
    def unjudged(self) -> str:
        """How the scores read treat unjudged documents (`services.evaluate.UNJUDGED`)."""
        return "judged-only" if self.judged_only else data.NONRELEVANT

    @property
    def scoring(self) -> dict[str, Any]:
        """`qrels=..., unjudged=...` for the data functions that read or write scores."""
        return {"qrels": self.qrels, "unjudged": self.unjudged}

    def runs(self) -> list[RunInfo]:
        return data.runs(self.db, self.token, self.collection) if self.collection else []

    def measures(self) -> list[str]:
        """The measures scored against the collection's own qrels and, with a named set chosen, against it: the
        choices a page offers (a run not scored on one under the chosen qrels is scored on request)."""
        if not self.collection:
            return []
        own = data.measures(self.db, self.token, self.collection)
        if self.qrels is None:
            return own
        return sorted({*own, *data.measures(self.db, self.token, self.collection, self.qrels)})


def set_context(ctx: Context) -> None:
    st.session_state[_CTX_KEY] = ctx


@dataclass(frozen=True)
class PageContext(Context):
    """The context of a page that works on a collection: one is picked (`context()` stops the page otherwise)."""

    collection: str


def context() -> PageContext:
    """The store and collection chosen in the sidebar; stops the page with a hint when there is none."""
    ctx = st.session_state.get(_CTX_KEY)
    if ctx is None:
        st.error("No store selected.")
        st.stop()
    if not ctx.collection:
        st.info("The store has no collection yet. Add one with `workbench collection add NAME --qrels FILE`.")
        st.stop()
    return PageContext(db=ctx.db, token=ctx.token, collection=ctx.collection, qrels=ctx.qrels,
                       judged_only=ctx.judged_only)


QRELS_HELP = ("The judgments every page scores against: the collection's own (`default`) or a named set added with "
              "`workbench collection qrels add` (the CLI's `--qrels NAME`). Scores are kept per qrels content, so "
              "switching back to a set already scored reads them and scores nothing.")
JUDGED_ONLY_HELP = ("Score only the documents the qrels judge, each ranking condensed as trec_eval -J does (the "
                    "CLI's `--judged-only`); these scores are kept beside the default ones.")


def sidebar_judgments(db: str, token: data.Token, collection: str) -> tuple[str | None, bool]:
    """The qrels set to score against (None: the collection's own) and the judged-only switch, in the sidebar.

    The selector appears when the collection has named qrels sets (else a caption names the qrels in use). Both
    are bound to the URL (`?qrels=NAME&judged_only=true`, the CLI's `--qrels NAME -J`) and, drawn by the router
    on every page, keep their value from page to page. A set asked for that the collection lacks (a link to
    another collection, a set since removed) falls back to `default`, with a warning naming it.
    """

    sets = {s.name: s for s in data.qrels_sets(db, token, collection)}
    names = [DEFAULT_QRELS, *sets]
    asked = st.session_state.get("qrels", st.query_params.get("qrels"))
    if asked is not None and asked not in names:
        st.warning(f"Collection {plain(collection)} has no qrels named {plain(asked)}; showing its own.",
                   icon=":material/warning:")
        st.session_state["qrels"] = DEFAULT_QRELS
    chosen = (st.selectbox("Qrels", names, key="qrels", bind="query-params", help=QRELS_HELP) if sets
              else DEFAULT_QRELS)
    info = sets.get(chosen)
    digest = (info.qrels_hash if info else data.qrels_hash(db, token, collection))[:12]
    what = (f"qrels {plain(chosen)}: {info.n_judgments:,} judgments of {info.n_queries:,} queries" if info
            else "qrels: the collection's own")
    st.caption(f"{what} · sha256 {digest}")
    judged_only = st.toggle("Judged only (trec_eval -J)", key="judged_only", bind="query-params",
                            help=JUDGED_ONLY_HELP)
    return (info.name if info else None), bool(judged_only)


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
"""Every ASCII punctuation character: CommonMark lets each be backslash-escaped, which turns off all syntax built on
it (emphasis, links, images, HTML, headings, lists, tables, code) and Streamlit's own (`$math$`, `:red[...]`,
`:material/...:` icons, `:emoji:` shortcodes)."""
_AUTOLINK = re.compile(r"(?=://)|(?<=www)(?=\.)|(?=@[-\w]+\.[-\w])", re.IGNORECASE)
"""Where GFM could make a link of bare text (`http://`, `www.`, `user@host.domain`): it finds them in the text
after escapes are resolved, so escaping cannot stop it; a word joiner (U+2060, invisible) there does. (`@` without
a dotted domain after it, as in `nDCG@10`, is never a link.)"""
WORD_JOINER = "\u2060"


def plain(text: object, *, lines: bool = False) -> str:
    """`text` as Markdown that Streamlit shows as exactly that text: no formatting, links, images, HTML, maths or
    icons of the user's making (file names, run names, query and document text are data, not markup).

    Whitespace runs, line breaks included, show as one space; with `lines=True` line breaks are kept (a blank line
    starts a paragraph), for document text.
    """
    if lines:
        paragraphs = re.split(r"\n\s*\n", str(text).replace("\r\n", "\n").replace("\r", "\n"))
        return "\n\n".join("  \n".join(plain(line) for line in p.split("\n") if line.strip())
                            for p in paragraphs if p.strip())
    flat = " ".join(str(text).split())
    return _PUNCTUATION.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, flat))


def link_params(ctx: Context) -> dict[str, str]:
    """The sidebar's choices as a link's query parameters (collection, and qrels and judged_only when not the
    default), so a link to another page opens it as this one scores: `{**link_params(ctx), "q": ...}`."""
    params = {"collection": ctx.collection} if ctx.collection else {}
    if ctx.qrels:
        params["qrels"] = ctx.qrels
    if ctx.judged_only:
        params["judged_only"] = "true"
    return params


def against(ctx: Context) -> str:
    """' against qrels NAME' and ' (judged only)' (as Markdown) when the sidebar chose other than the collection's
    own qrels with unjudged documents non-relevant: added to what a page says about missing scores."""
    named = f" against qrels {plain(ctx.qrels)}" if ctx.qrels else ""
    return named + (" (judged only)" if ctx.judged_only else "")


def fmt4(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.4f}"


def default_pick(options: Sequence[str], preferred: Sequence[str], n: int = 1) -> list[str]:
    """The preferred options that exist, topped up with the first options, n in all."""
    out = [p for p in dict.fromkeys(preferred) if p in options][:n]
    out += [o for o in options if o not in out][: max(0, n - len(out))]
    return out


def first_stage_default(runs: Sequence[RunInfo]) -> list[str]:
    """A sensible default baseline: a run called bm25, else the first first-stage run."""
    names = [r.name for r in runs]
    firsts = [r.name for r in runs if not r.parent]
    return default_pick(names, ["bm25", *firsts], 1)


def need(condition: bool, message: str) -> None:
    """Stop the page with an info box when the user has not picked enough yet."""
    if not condition:
        st.info(message)
        st.stop()


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent cached reads at once (DuckDB and numpy release the GIL: two cores, one page), results in
    order. Each worker carries the script's context, as Streamlit asks of threads that call its caches."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    ctx = get_script_run_ctx()
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # re-raised in the script thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(1, len(calls))]
    for t in threads:
        add_script_run_ctx(t, ctx)
        t.start()
    work(0)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
