"""The workbench dashboard: a router over the pages in workbench/app/pages (`workbench serve` starts it).

Store from $WORKBENCH_DB or the sidebar; collection in the sidebar (and in the URL, like every view setting).
Library errors (WorkbenchError) are shown as one-line messages, never as tracebacks.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import streamlit as st

from workbench.app import data
from workbench.app.common import Context, plain, set_context
from workbench.errors import WorkbenchError
from workbench.store import default_db_path

PAGES = Path(__file__).parent / "workbench" / "app" / "pages"

st.set_page_config(page_title="Retrieval workbench", page_icon=":material/query_stats:", layout="wide")

# Every page answers at its own path; the root shows the leaderboard through a hidden default page of the same
# script (the default page is served at `/` only, so the listed one keeps `/leaderboard`).
page = st.navigation(
    {
        "Compare": [
            st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:",
                    url_path="leaderboard"),
            st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", url_path="",
                    default=True, visibility="hidden"),
            st.Page(PAGES / "per_query.py", title="Per-query", icon=":material/compare_arrows:",
                    url_path="per-query"),
            st.Page(PAGES / "drilldown.py", title="Query drill-down", icon=":material/manage_search:",
                    url_path="drilldown"),
        ],
        "Explore": [
            st.Page(PAGES / "depth.py", title="Depth scaling", icon=":material/stacked_line_chart:",
                    url_path="depth"),
            st.Page(PAGES / "fusion.py", title="Fusion lab", icon=":material/merge:", url_path="fusion"),
        ],
        "Manage": [
            st.Page(PAGES / "runs.py", title="Runs", icon=":material/list_alt:", url_path="runs"),
        ],
    }
)

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
# when the page has run: each fresh connection to a big store pays for loading what the last one had loaded (pages
# that write cannot hold one). Its token is taken once the file is open, so it names what the connection reads.
READ_ONLY_PAGES = {"per-query", "drilldown", "depth"}


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


try:
    reads = (data.store_for(db).reading() if page.url_path in READ_ONLY_PAGES and Path(db).is_file()
             else contextlib.nullcontext())
    with reads:
        token, collection = sidebar_collection(db)
        set_context(Context(db=db, token=token, collection=collection))
        for warning in data.collection_warnings(db, token, collection) if collection else ():
            st.warning(re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", warning), icon=":material/warning:")  # as text
        page.run()
except data.StoreChanged:  # a write came between this rerun's catalogue and a view keyed on it
    st.rerun()
except WorkbenchError as exc:
    st.error(plain(exc))
