"""The dashboard's pages, each registered once: the router, the tests and bench/app_pages.py all read `PAGES`.

Adding a page is a script in this folder and one `Page(...)` line below (docs/dashboard.md). Importing this module
does not import Streamlit: the CLI and the benchmarks read the list too.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Page:
    """One dashboard page.

    `title` is its entry in the navigation, the browser tab's title and the heading the router draws above it.
    `url_path` is its address (`/leaderboard`), kept in shared links, so it should not change once published.
    `icon` is a Material Symbols icon (`:material/name:`), drawn from Streamlit's bundled font. `section` groups it
    in the navigation. `module` names the script Streamlit runs (found by import, so an installed wheel works).
    `reads_only`: the page never writes, so the router holds one store connection for all its reads (the sidebar's
    included) while it runs; a page that writes cannot hold one.
    """

    title: str
    url_path: str
    icon: str
    section: str
    module: str
    reads_only: bool = False

    @property
    def name(self) -> str:
        """The script's file name without `.py` (`per_query`): how tests and the benchmark name a page."""
        return self.module.rpartition(".")[2]

    @property
    def script(self) -> Path:
        """The page's script file, found without running it."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"dashboard page {self.title!r}: no module {self.module}", name=self.module)
        return Path(spec.origin)


PAGES: tuple[Page, ...] = (
    Page("Leaderboard", "leaderboard", ":material/leaderboard:", "Compare", "workbench.app.pages.leaderboard"),
    Page("Per-query comparison", "per-query", ":material/compare_arrows:", "Compare",
         "workbench.app.pages.per_query", reads_only=True),
    Page("Benchmark", "benchmark", ":material/trophy:", "Compare", "workbench.app.pages.benchmark"),
    Page("Query drill-down", "drilldown", ":material/manage_search:", "Compare", "workbench.app.pages.drilldown",
         reads_only=True),
    Page("Rerank depth scaling", "depth", ":material/stacked_line_chart:", "Explore", "workbench.app.pages.depth",
         reads_only=True),
    Page("Fusion lab", "fusion", ":material/merge:", "Explore", "workbench.app.pages.fusion"),
    Page("Runs", "runs", ":material/list_alt:", "Manage", "workbench.app.pages.runs"),
)
"""In navigation order, sections in order of first appearance. The first page is also the one served at `/`."""


def page_named(name: str) -> Page:
    """The registered page whose script is `name`.py (`per_query`)."""
    for page in PAGES:
        if page.name == name:
            return page
    raise KeyError(f"no dashboard page {name!r}; pages: {', '.join(p.name for p in PAGES)}")
