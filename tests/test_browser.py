"""The dashboard in a real browser: `streamlit run app.py` on 127.0.0.1, every page in headless Chromium.

Screenshots go to artifacts/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS = ROOT / "artifacts" / "screenshots"
PAGES = [
    # (url path and query, text that must render, screenshot name)
    ("?baselines=bm25", "significantly different from bm25", "leaderboard"),
    ("per-query?a=bm25__rankgpt-3.5%40100&b=bm25&measure=nDCG%4010", "0.4796", "per_query"),
    ("drilldown?q=1051399&a=bm25__rankgpt-3.5%40100&b=bm25", "who sings monk theme song", "drilldown"),
    ("depth?reranked=bm25__rankvicuna-7b%40100", "best k for nDCG@10", "depth"),
    ("fusion?inputs=bm25&inputs=splade-pp-ed", "Where the gains come from", "fusion"),
    ("runs", "Ingest a run", "runs"),
]


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


@pytest.fixture(scope="module")
def server(dl20_store, tmp_path_factory):
    """The dashboard served on 127.0.0.1 at a free port, headless, against the DL 2020 store.

    Its output goes to a file: a pipe nobody reads fills up after a few pages' log lines and blocks the server.
    """
    port = _free_port()
    env = {**os.environ, "WORKBENCH_DB": str(dl20_store)}
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 -- closed when the fixture ends
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
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


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
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait_for(driver, text: str, timeout: float = 90) -> None:
    """Until `text` is on the page and Streamlit has stopped running the script."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        if text in body and not running:
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
