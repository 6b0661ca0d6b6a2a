"""The dashboard's router: the pages of workbench.app.pages.PAGES in the navigation, the store and collection in
the sidebar, the page's heading, then the page. `main()` runs once per rerun.

Started by `workbench serve` (through workbench/app/serve/dashboard.py) or, in a checkout, `streamlit run app.py`.
Store from $WORKBENCH_DB or the sidebar; collection, qrels and judged-only in the sidebar (and in the URL, like every
view setting).
Library errors (WorkbenchError) are shown as one-line messages, never as tracebacks.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from workbench.app import data
from workbench.app.common import Context, plain, set_context, sidebar_judgments
from workbench.app.pages import PAGES, Page
from workbench.errors import WorkbenchError
from workbench.store import default_db_path


def navigation() -> dict[str, list[StreamlitPage]]:
    """The registered pages by section. Every page answers at its own path; the root shows the first page through
    a hidden default page of the same script (the default page is served at `/` only, so the listed one keeps its
    own path)."""
    sections: dict[str, list[StreamlitPage]] = {}
    for page in PAGES:
        sections.setdefault(page.section, []).append(
            st.Page(page.script, title=page.title, icon=page.icon, url_path=page.url_path))
    home = PAGES[0]
    sections[home.section].append(st.Page(home.script, title=home.title, icon=home.icon, url_path="", default=True,
                                          visibility="hidden"))
    return sections


def sidebar_collection(db: str) -> tuple[data.Token, str | None]:
    """The store's version token and the collection picked in the sidebar (None when there is none)."""
    with st.sidebar:
        if not Path(db).is_file():  # the CLI's refusal, word for word (the check creates nothing)
            try:
                data.store_for(db).ensure_schema()
            except WorkbenchError as exc:
                st.warning(plain(str(exc)))
            return (0.0, 0), None
        token = data.token_for(db)
        try:
            names = [c.name for c in data.collections(db, token)]
        except WorkbenchError as exc:
            st.error(plain(exc))
            names = []
        if not names:
            st.info("No collections in this store yet.")
            return token, None
        return token, st.selectbox("Collection", names, key="collection", bind="query-params")


def main() -> None:
    st.set_page_config(page_title="Retrieval workbench", page_icon=":material/query_stats:", layout="wide")
    nav = st.navigation(navigation())
    page: Page = {p.url_path: p for p in PAGES}.get(nav.url_path, PAGES[0])  # "" is the hidden default page

    try:  # $WORKBENCH_DB and the other variables are read as they are used: a bad value is a line, like any error
        default_db = str(default_db_path())
    except WorkbenchError as exc:
        st.error(str(exc))
        st.stop()
    with st.sidebar:
        db = st.text_input("Store file", value=default_db, key="db",
                           help="The DuckDB store the CLI writes (`--db` / $WORKBENCH_DB). Read with short-lived "
                                "connections, so the CLI can write while this page is open.")

    # a page that only reads makes all its reads, the sidebar's included, on one connection (Store.reading), closed
    # when the page has run: each fresh connection to a big store pays for loading what the last one had loaded
    # (pages that write cannot hold one). Its token is taken once the file is open, so it names what it reads.
    try:
        reads = (data.store_for(db).reading() if page.reads_only and Path(db).is_file()
                 else contextlib.nullcontext())
        with reads:
            token, collection = sidebar_collection(db)
            qrels, judged_only = None, False
            if collection:
                with st.sidebar:
                    qrels, judged_only = sidebar_judgments(db, token, collection)
            set_context(Context(db=db, token=token, collection=collection, qrels=qrels, judged_only=judged_only))
            st.title(page.title)  # the page's heading first, then what is off with its collection
            for warning in data.collection_warnings(db, token, collection) if collection else ():
                st.warning(plain(warning), icon=":material/warning:")  # as text
            nav.run()
    except data.StoreChanged:  # a write came between this rerun's catalogue and a view keyed on it
        st.rerun()
    except WorkbenchError as exc:
        st.error(plain(exc))
