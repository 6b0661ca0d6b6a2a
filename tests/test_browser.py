"""The dashboard in a real browser: `streamlit run app.py` on 127.0.0.1, every page in headless Chromium.

Screenshots go to artifacts/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from workbench.app.pages import PAGES as REGISTRY

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SYMBOLS = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/"
SHOTS = ROOT / "artifacts" / "screenshots"
PAGES = [
    # (url path and query, text that must render, screenshot name)
    ("leaderboard?baselines=bm25", "significantly different from bm25", "leaderboard"),
    ("per-query?a=bm25__rankgpt-3.5%40100&b=bm25&measure=nDCG%4010", "0.4796", "per_query"),
    ("drilldown?q=1051399&a=bm25__rankgpt-3.5%40100&b=bm25", "who sings monk theme song", "drilldown"),
    ("depth?reranked=bm25__rankvicuna-7b%40100", "best k for nDCG@10", "depth"),
    ("fusion?inputs=bm25&inputs=splade-pp-ed", "Where the gains come from", "fusion"),
    ("runs", "Ingest a run", "runs"),
    ("benchmark", "No benchmarks in this store yet", "benchmark"),
]
"""A case for every registered page (test_every_registered_page_has_a_case): the url path starts with the page's."""


def _missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"needs Debian chromium and chromedriver ({', '.join(missing)} missing; apt-get install chromium " \
               "chromium-driver, as scripts/test.sh does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install -e .[test])"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(store: Path, log_dir: Path) -> Iterator[str]:
    """The dashboard served on 127.0.0.1 at a free port, headless, against `store`; yields its URL.

    Its output goes to a file: a pipe nobody reads fills up after a few pages' log lines and blocks the server.
    """
    port = _free_port()
    env = {**os.environ, "WORKBENCH_DB": str(store)}
    log_path = log_dir / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 -- closed when the server ends
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        log.close()
        pytest.fail(f"streamlit did not start: {log_path.read_text()[-3000:]}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(dl20_store, tmp_path_factory):
    """The dashboard on the (shared, read-only) DL 2020 store."""
    with streamlit_server(dl20_store, tmp_path_factory.mktemp("streamlit")) as url:
        yield url


@pytest.fixture
def browser(tmp_path_factory):
    """A fresh headless Chromium per page (a long-lived driver grew flaky across many resizes)."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                 "--disable-dev-shm-usage", "--window-size=1600,1200",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every network request, for requests()
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait_for(driver, text: str, timeout: float = 90) -> None:
    """Until `text` is on the page (whitespace runs as one space) and Streamlit has stopped running the script."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    text = " ".join(text.split())
    while time.monotonic() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text.replace("\u2060", "")  # word joiners: invisible
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        if text in " ".join(body.split()) and not running:
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} did not appear; page text starts: {body[:600]!r}")


@pytest.mark.parametrize(("path", "expect", "name"), PAGES, ids=[p[2] for p in PAGES])
def test_page_renders_in_chromium(server, browser, path, expect, name):
    from selenium.webdriver.common.by import By

    browser.get("about:blank")  # drop the previous page (its charts keep the renderer busy) before the next
    browser.get(f"{server}/{path}")
    _wait_for(browser, expect)
    time.sleep(1.5)  # let charts finish drawing before the screenshot
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in body
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 1200;")
    browser.set_window_size(1600, min(max(int(height) + 120, 900), 4000))
    time.sleep(2.5)  # charts re-lay out after the resize
    assert browser.save_screenshot(str(SHOTS / f"{name}.png"))
    browser.set_window_size(1600, 1200)
    if name == "leaderboard":
        assert "bm25" in body and "Downloads" in body


def test_server_listens_on_loopback_only(server):
    """Bound to 127.0.0.1: the machine's other addresses refuse the connection."""
    port = int(server.rsplit(":", 1)[1])
    try:
        others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
    except OSError:
        others = set()
    others = {a for a in others if not a.startswith("127.")}
    if not others:
        pytest.skip("this machine has no non-loopback IPv4 address to probe")
    for address in others:
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(2)
            s.connect((address, port))


def requests(driver) -> list[str]:
    """The URLs the page asked for since the last call (Chrome DevTools performance log)."""
    entries = (json.loads(e["message"])["message"] for e in driver.get_log("performance"))
    return [e["params"]["request"]["url"] for e in entries if e["method"] == "Network.requestWillBeSent"]


def _shoot(driver, name: str, width: int = 1600) -> Path:
    """A full-height screenshot of the page at `width` under artifacts/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 1200;")
    driver.set_window_size(width, min(max(int(height) + 120, 900), 4000))
    time.sleep(2.5)  # charts re-lay out after the resize
    path = SHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path))
    return path


def _text(driver) -> str:
    """The page's visible text, without the word joiners that keep bare links from being links."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text.replace("\u2060", "")


def _open(driver, url: str, expect: str) -> None:
    driver.get("about:blank")
    driver.get(url)
    _wait_for(driver, expect)
    time.sleep(1.0)


# ------------------------------------------------------------------------------------------------ issue 17 item 7
PATHS = [("", REGISTRY[0].title), *((p.url_path, p.title) for p in REGISTRY)]


def test_every_registered_page_has_a_case():
    """A page added to the registry without a rendering case here fails this, not silently goes untested."""
    assert sorted(name for _, _, name in PAGES) == sorted(p.name for p in REGISTRY)
    assert all(path.split("?")[0] == next(p.url_path for p in REGISTRY if p.name == name)
               for path, _, name in PAGES)


def test_every_page_answers_at_its_own_path(server, browser):
    from selenium.webdriver.common.by import By

    for path, title in PATHS:
        _open(browser, f"{server}/{path}", title)
        assert [h.text for h in browser.find_elements(By.TAG_NAME, "h1")][:1] == [title], path
        assert "Page not found" not in _text(browser), path


def _grid(driver, until=lambda grid: bool(grid["headers"]), timeout: float = 90) -> dict:
    """The first dataframe's header texts and widths (content, box, page, window) once `until(grid)` holds: the
    grid's DOM is filled after the script has run."""
    deadline = time.monotonic() + timeout
    while not until(grid := _grid_now(driver)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return grid


def _grid_now(driver, index: int = 0) -> dict:
    return driver.execute_script("""
        const g = document.querySelectorAll('[data-testid="stDataFrame"]')[arguments[0]];
        const s = g && g.querySelector('.dvn-scroller');
        if (!s) return {headers: []};
        return {headers: [...g.querySelectorAll('th')].map(th => th.textContent),
                scroll: s.scrollWidth, box: s.clientWidth,
                page: document.documentElement.scrollWidth, window: window.innerWidth};""", index)


def test_leaderboard_fits_1280_px_and_toggles_ci_columns(server, browser):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 1000)
    _open(browser, f"{server}/leaderboard?baselines=bm25", "significantly different from bm25")
    grid = _grid(browser)
    assert grid["headers"] == ["run", "nDCG@10", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@100", "R(rel=2)@1000",
                               "Judged@10"]
    assert grid["scroll"] <= grid["box"] and grid["page"] <= grid["window"] == 1280, grid  # no horizontal scroll
    _shoot(browser, "leaderboard-1280", width=1280)
    browser.set_window_size(1280, 1000)
    toggle = next(t for t in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stCheckbox"]')
                  if "CI of Δ columns" in t.text)
    toggle.find_element(By.TAG_NAME, "label").click()
    grid = _grid(browser, until=lambda grid: "nDCG@10 CI" in grid["headers"])
    assert "nDCG@10 CI" in grid["headers"] and "ci=true" in browser.current_url
    assert grid["page"] <= grid["window"]  # wider content scrolls inside the table, never the page
    _shoot(browser, "leaderboard-1280-ci", width=1280)


MAIN_SELECTBOX = '[data-testid="stMain"] [data-testid="stSelectbox"]'


def test_drilldown_picker_finds_a_query_by_words_of_its_text(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, f"{server}/drilldown?a=bm25__rankgpt-3.5%40100&b=bm25", "are naturalization records public")
    picker = browser.find_elements(By.CSS_SELECTOR, MAIN_SELECTBOX)[0]
    assert picker.text.startswith("Query (judged")
    box = picker.find_element(By.TAG_NAME, "input")
    box.click()
    box.send_keys("monk theme")
    time.sleep(1.5)
    options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, '[role="option"]')]
    assert options and options[0] == "1051399 · who sings monk theme song", options[:5]
    _shoot(browser, "drilldown-search")
    box = browser.find_elements(By.CSS_SELECTOR, MAIN_SELECTBOX)[0].find_element(By.TAG_NAME, "input")
    box.send_keys(Keys.ENTER)
    _wait_for(browser, "“who sings monk theme song”")
    assert "q=1051399" in browser.current_url
    _shoot(browser, "drilldown-found")


def test_per_query_shows_the_paired_test_with_its_ci(server, browser, dl20_store):
    from workbench.services.compare import compare_runs
    from workbench.store import Store

    a, b = "bm25__rankgpt-3.5@100", "bm25"
    row = compare_runs(Store(dl20_store), "dl20", [b, a], ["nDCG@10"]).significance.rows[0]
    _open(browser, f"{server}/per-query?a=bm25__rankgpt-3.5%40100&b=bm25&measure=nDCG%4010",
          "95% CI of the mean Δ")
    body = _text(browser)
    assert f"{row.p_value:.4g}" in body and f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]" in body
    assert "A is significantly better than B at alpha 0.05: paired t-test over the 54 queries" in body
    _shoot(browser, "per_query-test")


@pytest.fixture(scope="module")
def writable_server(dl20_store, tmp_path_factory):
    """The dashboard on a private copy of the DL 2020 store, for interactions that write."""
    folder = tmp_path_factory.mktemp("writable")
    shutil.copy(dl20_store, folder / "copy.duckdb")
    with streamlit_server(folder / "copy.duckdb", folder) as url:
        yield url


def test_a_measure_typed_on_the_leaderboard_is_scored_and_shown(writable_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, f"{writable_server}/leaderboard?baselines=bm25", "significantly different from bm25")
    assert "P@20" not in _grid(browser)["headers"]
    box = browser.find_element(By.CSS_SELECTOR, 'input[placeholder^="e.g. P@20"]')
    browser.execute_script("""window.progress = [];  // what the progress bar says while the measure is scored
        new MutationObserver(() => document.querySelectorAll('[data-testid="stProgress"]').forEach(
            bar => window.progress.push(bar.textContent))).observe(document.body,
                {subtree: true, childList: true, characterData: true});""")
    box.send_keys("P@20", Keys.ENTER)
    assert _grid(browser, until=lambda grid: "P@20" in grid["headers"], timeout=120)["headers"][-1] == "P@20"
    assert "measures=" in browser.current_url
    progress = browser.execute_script("return window.progress")
    assert progress and all(re.fullmatch(r"scoring P@20(: .+ \(\d+/24 runs\)| \.\.\.)", t) for t in progress)
    assert "unknown measure" not in _text(browser)
    _shoot(browser, "leaderboard-typed-measure")
    box = browser.find_element(By.CSS_SELECTOR, 'input[placeholder^="e.g. P@20"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("P@twenty", Keys.ENTER)
    _wait_for(browser, "unknown measure: 'P@twenty'")
    _shoot(browser, "leaderboard-invalid-measure")


# ------------------------------------------------------------------------------------------------ issue 15
@pytest.fixture(scope="module")
def trap():
    """A local HTTP server on its own port that records every request: the markup store's URLs point at it."""

    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], hits
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def markup_server(trap, tmp_path_factory):
    from markup_store import build_markup_store

    folder = tmp_path_factory.mktemp("markup")
    store = build_markup_store(folder / "markup.duckdb", f"127.0.0.1:{trap[0]}")
    with streamlit_server(store.path, folder) as url:
        yield url, store


def test_user_markup_is_shown_as_text_and_fetches_nothing(markup_server, trap, browser):
    """Names, query ids, topic and document text, warnings and the metadata header of a store full of Markdown
    image and link syntax, HTML, $maths$ and :icon: codes: every page shows them as text; the browser asks for
    nothing but the app's own URLs, and the trap server sees no request."""
    from urllib.parse import quote

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, m = markup_server
    port, hits = trap
    q = {k: quote(v, safe="") for k, v in {"a": m.run_a, "b": m.run_b, "q": m.query, "r": m.reranked}.items()}
    topic = " ".join(m.topic_text.split())
    pages = [(f"leaderboard?baselines={q['b']}&delta=true&ci=true", f"Collection {m.collection}", "leaderboard"),
             (f"per-query?a={q['a']}&b={q['b']}", f"A = {m.run_a}, B = {m.run_b}", "per_query"),
             (f"drilldown?q={q['q']}&a={q['a']}&b={q['b']}", f"“{topic}”", "drilldown"),
             (f"depth?reranked={q['r']}", f"{m.reranked} reranks the top 2 of {m.run_b}.", "depth"),
             (f"fusion?inputs={q['a']}&inputs={q['b']}", "Where the gains come from", "fusion"),
             (f"runs?run={q['a']}", f"not scored (e.g. {m.warned_id})", "runs")]
    with contextlib.suppress(urllib.error.HTTPError):  # the trap counts what reaches it
        urllib.request.urlopen(f"http://127.0.0.1:{port}/probe", timeout=5)
    assert hits == ["/probe"]
    hits.clear()
    requests(browser)
    for path, expect, name in pages:
        _open(browser, f"{url}/{path}", expect)
        if name == "drilldown":
            doc = browser.find_elements(By.CSS_SELECTOR, MAIN_SELECTBOX)[-1]
            doc.find_element(By.TAG_NAME, "input").send_keys("d1", Keys.ENTER)
            _wait_for(browser, m.doc_text)
            assert f"query {m.query} ·" in _text(browser)
        if name == "runs":
            next(e for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stExpander"]')
                 if "ir_metadata header" in e.text).click()
            _wait_for(browser, m.header.strip())
        time.sleep(1.0)
        made = browser.execute_script("""return {
            images: [...document.images].map(i => i.src), links: [...document.links].map(a => a.href),
            maths: document.querySelectorAll('.katex').length,
            icons: [...document.querySelectorAll('[data-testid="stIconMaterial"]')].map(i => i.textContent)};""")
        assert not [s for s in made["images"] + made["links"] if not s.startswith((url, "data:", "blob:"))], made
        assert made["maths"] == 0 and not {"home", "warning", "bolt"} & set(made["icons"]), (name, made)
        assert ":smile:" not in _text(browser) or "😄" not in _text(browser)
        if name in ("drilldown", "runs"):
            _shoot(browser, f"markup-{name}")
            browser.set_window_size(1600, 1200)
    # the app's own requests: its pages, the browser's internal pages, and the tab icon app.py chose
    # (page_icon=":material/query_stats:", which Streamlit draws from Google's Material Symbols)
    own = (url, "data:", "blob:", "about:", "chrome", f"{SYMBOLS}query_stats/")
    foreign = [r for r in requests(browser) if not r.startswith(own)]
    assert foreign == [] and hits == [], (sorted(set(foreign)), hits)


# ------------------------------------------------------------------------------------------------ issue 20 items 2, 4
@pytest.fixture(scope="module")
def qrels_server(dl20_store, tmp_path_factory):
    """The dashboard on a copy of the DL 2020 store with a second qrels set, `strict` (grade 1 read as 0), its
    values and both sets' bounds scored by the CLI: (url, store)."""
    from workbench.cli.main import main

    folder = tmp_path_factory.mktemp("qrels")
    store = folder / "qrels.duckdb"
    shutil.copy(dl20_store, store)
    rows = [line.split() for line in (ROOT / "data/trec-dl-2020/qrels.dl20-passage.txt").read_text().splitlines()]
    (folder / "strict.qrels").write_text("".join(f"{q} {i} {d} {0 if g == '1' else g}\n" for q, i, d, g in rows))
    db = ["--db", str(store)]
    assert main([*db, "collection", "qrels", "add", "dl20", "strict", str(folder / "strict.qrels")]) == 0
    for qrels in ("default", "strict"):
        assert main([*db, "leaderboard", "-c", "dl20", "--qrels", qrels, "--bounds", "-o", str(folder / "lb.md")]) == 0
    with streamlit_server(store, folder) as url:
        yield url, store


def _pick_in_sidebar(driver, label: str, option: str) -> None:
    """Choose `option` in the sidebar's selectbox labelled `label`, as a user does: click, type, Enter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = next(s for s in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] [data-testid="stSelectbox"]')
               if s.text.startswith(label)).find_element(By.TAG_NAME, "input")
    box.click()
    box.send_keys(option, Keys.ENTER)


def _cell(grid_driver, run: str, column: str) -> str:
    """A leaderboard cell's text, read from the grid's rows (the runs' order is the page's)."""
    return grid_driver.execute_script("""
        const g = document.querySelector('[data-testid="stDataFrame"]');
        const heads = [...g.querySelectorAll('th')].map(th => th.textContent);
        const row = [...g.querySelectorAll('tr')].find(tr => tr.querySelector('td') &&
                                                       tr.querySelector('td').textContent === arguments[0]);
        return row ? row.querySelectorAll('td')[heads.indexOf(arguments[1])].textContent.trim() : null;""",
                                     run, column)


def test_the_qrels_selector_switches_every_page_and_back_without_rescoring(qrels_server, browser):
    """A user picks `strict` in the sidebar: the leaderboard shows its values, the choice goes into the URL and
    to the next page, the bounds columns fit as the CI columns do, and going back to `default` shows its values
    again, with the store unchanged (scores are keyed by qrels content: nothing is scored)."""
    from conftest import snapshot
    from selenium.webdriver.common.by import By

    url, store = qrels_server
    before = snapshot(store)
    browser.set_window_size(1280, 1000)
    _open(browser, f"{url}/leaderboard?baselines=", "qrels: the collection's own")
    assert _grid(browser, until=lambda g: "nDCG@10" in g["headers"])
    assert _cell(browser, "bm25", "nDCG@10") == "0.4796"
    _pick_in_sidebar(browser, "Qrels", "strict")
    _wait_for(browser, "qrels strict: 11,386 judgments of 54 queries")
    _wait_for(browser, "Collection dl20, qrels strict (qrels sha256 3befa10e34c3)")
    assert _cell(browser, "bm25", "nDCG@10") == "0.4040" and "qrels=strict" in browser.current_url
    _shoot(browser, "qrels-leaderboard-strict", width=1280)

    browser.set_window_size(1280, 1000)
    toggle = next(t for t in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stCheckbox"]')
                  if "Bounds columns" in t.text)
    toggle.find_element(By.TAG_NAME, "label").click()
    grid = _grid(browser, until=lambda g: "nDCG@10 if unjudged relevant" in g["headers"])
    assert grid["headers"][1:3] == ["nDCG@10", "nDCG@10 if unjudged relevant"] and "bounds=true" in browser.current_url
    assert grid["page"] <= grid["window"] == 1280, grid  # wider content scrolls inside the table, never the page
    assert _cell(browser, "bm25", "nDCG@10 if unjudged relevant") == "0.4099"
    _shoot(browser, "qrels-leaderboard-strict-bounds-1280", width=1280)

    browser.set_window_size(1600, 1200)
    browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a[href$="/per-query"]').click()
    _wait_for(browser, "95% CI of the mean Δ")
    _wait_for(browser, "qrels strict: 11,386 judgments")
    assert "qrels=strict" in browser.current_url
    assert "0.4040" in _text(browser)  # bm25's mean nDCG@10 under strict (run B by default)
    _shoot(browser, "qrels-per_query-strict")

    browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a[href$="/leaderboard"]').click()
    _wait_for(browser, "Collection dl20, qrels strict")
    _pick_in_sidebar(browser, "Qrels", "default")
    _wait_for(browser, "qrels: the collection's own")
    _grid(browser, until=lambda g: _cell(browser, "bm25", "nDCG@10") == "0.4796", timeout=60)
    assert _cell(browser, "bm25", "nDCG@10") == "0.4796" and "scoring" not in _text(browser)
    _shoot(browser, "qrels-leaderboard-default-again")
    assert snapshot(store) == before
