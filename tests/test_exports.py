"""Leaderboard exports people paste: a standalone HTML page, LaTeX that compiles with booktabs, full-precision JSON.

Leaderboards here are built by `build_leaderboard` from real Evaluations: per-query values made up for runs with
names no store accepts (every LaTeX and HTML special character), and the DL 2020 store through the CLI.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from workbench.export import render
from workbench.export.leaderboard import latex_escape
from workbench.services.evaluate import Evaluation
from workbench.services.leaderboard import build_leaderboard

NASTY = ["base_line", r"a&b%c#d$e^f~g\h", "<b>bold</b> & 'q' \"qq\"", "[x]{y}|z", "plain"]
MEASURES = ["nDCG@10", "AP(rel=2)", "R(rel=2)@1000"]


def evaluation(names=NASTY, measures=MEASURES, n_queries=40, seed=0) -> Evaluation:
    """Per-query values for `names` on `measures`: run i is i * 0.05 better than the first on average."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, name in enumerate(names):
        for m in measures:
            values = np.clip(rng.normal(0.4 + 0.05 * i, 0.15, n_queries), 0, 1)
            rows += [(name, f"q{q}", m, float(v), "test", "sem") for q, v in enumerate(values)]
    frame = pd.DataFrame(rows, columns=["run", "query_id", "measure", "value", "evaluator", "semantics"])
    return Evaluation("my_coll#1", "ab" * 32, "trec_eval10(-c,score:f64 desc,doc_id desc)", tuple(measures),
                      tuple(names), frame, 0)


@pytest.fixture(scope="module")
def board():
    return build_leaderboard(evaluation(), baselines=[NASTY[0], NASTY[4]], test="randomisation", show_ci=True)


# ------------------------------------------------------------------------------------------------------- LaTeX
def test_latex_escape_is_one_pass():
    """Each special character once, and an escape's own braces not escaped again (`\\` was `\\textbackslash\\{\\}`)."""
    assert latex_escape(r"a\b_c&d%e#f$g^h~i{j}k") == (r"a\textbackslash{}b\_c\&d\%e\#f\$g\textasciicircum{}h"
                                                       r"\textasciitilde{}i\{j\}k")
    assert latex_escape("[x]<y>|z\nw") == r"{[}x{]}\textless{}y\textgreater{}\textbar{}z w"


def _balanced(tex: str) -> None:
    body = re.sub(r"\\[{}%$&#_]", "", tex)  # escaped characters are text
    body = "\n".join(line for line in body.splitlines() if not line.startswith("%"))
    depth = 0
    for ch in body:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, "a } closes nothing"
    assert depth == 0
    envs = re.findall(r"\\(begin|end)\{(\w+\*?)\}", body)
    stack = []
    for kind, name in envs:
        if kind == "begin":
            stack.append(name)
        else:
            assert stack.pop() == name
    assert not stack
    assert body.count("$") % 2 == 0


def test_latex_has_label_plain_caption_and_escaped_names(board):
    tex = render(board, "latex")
    _balanced(tex)
    assert r"\label{tab:leaderboard-my-coll-1}" in tex
    caption = re.search(r"\\caption\{(.*)\}\n\\label", tex).group(1)
    for jargon in ("sha256", "semantics", "trec_eval", "qrels"):
        assert jargon not in caption  # provenance lives in the comments
    assert "ab" * 32 in tex.split(r"\begin{table}")[0]  # ... here
    assert "Paired randomisation test (10,000 permutations, seed 0), Holm correction over 24 comparisons" in caption
    assert r"$\dagger$ from base\_line, $\ddagger$ from plain" in caption
    rows = {line.split(" & ")[0]: line for line in tex.splitlines() if " & " in line}
    assert r"a\&b\%c\#d\$e\textasciicircum{}f\textasciitilde{}g\textbackslash{}h" in rows
    assert "{[}x{]}\\{y\\}\\textbar{}z" in rows
    # one column per measure: the CI goes under its value
    assert tex.count(r"\begin{tabular}{l" + "r" * len(MEASURES) + "}") == 1
    assert r"{\scriptsize {[}" in rows["plain"]


def _pdflatex(tmp_path, body: str, name: str = "doc") -> str:
    if not shutil.which("pdflatex") or not subprocess.run(["kpsewhich", "booktabs.sty"], capture_output=True,
                                                           text=True).stdout.strip():
        pytest.skip("no pdflatex with booktabs (scripts/test.sh installs texlive-latex-base and "
                    "texlive-latex-recommended)")
    (tmp_path / "table.tex").write_text(body, encoding="utf-8")
    (tmp_path / f"{name}.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                          "\\input{table.tex}\nTable~\\ref{" + re.search(r"\\label\{(.*?)\}",
                                                                                           body).group(1)
                                          + "}.\n\\end{document}\n")
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    log = (tmp_path / f"{name}.log").read_text(errors="replace")
    assert res.returncode == 0, log[-3000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 0
    return log


def test_latex_compiles_with_booktabs(tmp_path, board):
    log = _pdflatex(tmp_path, render(board, "latex"))
    assert "Undefined control sequence" not in log


def test_latex_with_cis_fits_the_page(tmp_path):
    """Three measures, deltas, marks and CIs against a baseline: within an article's text width (no overfull box)."""
    names = ["bm25", "tasb", "ada2", "splade", "bm25-rm3", "monot5"]
    lb = build_leaderboard(evaluation(names), baselines=["bm25"], test="t", show_ci=True)
    tex = render(lb, "latex")
    assert tex.count("[") >= len(names) - 1  # every non-baseline cell has its CI
    log = _pdflatex(tmp_path, tex)
    assert "Overfull" not in log
    wide = render(build_leaderboard(evaluation(names), baselines=["bm25"], test="t", show_ci=False), "latex")
    assert r"\scriptsize" not in wide


# -------------------------------------------------------------------------------------------------------- HTML
class _Page(HTMLParser):
    """Tags in order, checks that every opened element closes, text per element."""

    VOID = frozenset({"meta", "br", "img", "link", "input", "hr"})

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.attrs, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, (tag, self.stack)

    def handle_data(self, data):
        self.text.append((self.stack[-1] if self.stack else "", data))

    def handle_decl(self, decl):
        self.tags.append(f"!{decl.lower()}")


def test_html_is_a_standalone_page(board):
    page = render(board, "html")
    assert page.startswith("<!DOCTYPE html>\n")
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    assert not parsed.stack
    assert ("meta", {"charset": "utf-8"}) in parsed.attrs
    assert {"style", "script", "table", "thead", "tbody", "caption"} <= set(parsed.tags)
    assert "link" not in parsed.tags and "img" not in parsed.tags
    assert not any("src" in a or "href" in a for _, a in parsed.attrs)  # no external assets
    assert not re.search(r"https?://", page)
    # user text is text: the names come back verbatim as the row headers, never as markup
    rows = [data for tag, data in parsed.text if tag == "th" and data in NASTY]
    assert rows == list(board.runs) and sorted(rows) == sorted(NASTY)
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    # every header is a sort button; value cells carry the full-precision value to sort by
    buttons = [data for tag, data in parsed.text if tag == "button"]
    assert buttons == ["run", *[x for m in MEASURES for x in (m, f"{m} CI")]]
    sort_keys = [float(a["data-sort"]) for t, a in parsed.attrs if t == "td" and a.get("data-sort")]
    assert board.values.loc[NASTY[1], MEASURES[0]] in sort_keys


def chromium_driver(tmp_path):
    """Headless Debian Chromium through selenium, as tests/test_browser.py drives it (skipped where missing)."""
    from pathlib import Path

    chromium, chromedriver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and chromedriver.exists()):
        pytest.skip("needs Debian chromium and chromedriver (scripts/test.sh installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-dev-shm-usage", "--window-size=1400,900",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(chromedriver)), options=options)


@pytest.mark.browser
@pytest.mark.slow
def test_html_sorts_by_a_clicked_column_in_chromium(board, tmp_path):
    """The inline script: first click sorts a measure best first, the second reverses it; the run column A-Z."""
    driver = chromium_driver(tmp_path)
    from selenium.webdriver.common.by import By

    path = tmp_path / "board.html"
    path.write_text(render(board, "html"), encoding="utf-8")
    try:
        driver.get(path.as_uri())

        def order() -> list[str]:
            return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "tbody th")]

        assert order() == list(board.runs)
        header = driver.find_elements(By.CSS_SELECTOR, "thead button")
        by_value = board.values[MEASURES[1]].sort_values(ascending=False, kind="stable")
        header[3].click()  # AP(rel=2): run, nDCG@10, its CI, AP(rel=2)
        assert order() == list(by_value.index)
        header[3].click()
        assert order() == list(by_value.index[::-1])
        header[0].click()
        names = order()
        assert sorted(names) == sorted(NASTY) and names != list(board.runs)
        assert names.index(NASTY[1]) < names.index("base_line") < names.index("plain")  # a..., b..., p...
        assert driver.execute_script(  # the browser's own collation agrees: each name <= the next
            "const n = Array.from(document.querySelectorAll('tbody th'), e => e.textContent);"
            "return n.every((x, i) => i === 0 || n[i - 1].localeCompare(x) <= 0);")
        assert driver.find_elements(By.CSS_SELECTOR, "thead th")[0].get_attribute("aria-sort") == "ascending"
        assert driver.save_screenshot(str(tmp_path / "board.png"))
    finally:
        driver.quit()


# --------------------------------------------------------------------------------------- JSON, CSV, Markdown
def test_json_keeps_full_precision(board):
    data = json.loads(render(board, "json"))
    table = board.significance.table
    for row in data["rows"]:
        for m, cell in row["measures"].items():
            assert cell["value"] == board.values.at[row["run"], m]  # not rounded
            for base, test in cell.get("tests", {}).items():
                want = table[(table["run"] == row["run"]) & (table["measure"] == m) & (table["baseline"] == base)]
                assert test["p_value"] == want["p_value"].iloc[0] and test["ci"][0] == want["ci_low"].iloc[0]
    assert data["significance"]["permutations"] == 10_000 and data["significance"]["bootstrap_samples"] == 10_000
    assert data["significance"]["can_be_significant"] is True


def test_markdown_and_csv_keep_working(board):
    md = render(board, "markdown")
    assert md.splitlines()[0] == "| run | " + " | ".join(x for m in MEASURES for x in (m, f"{m} CI")) + " |"
    assert "[x]{y}\\|z" in md  # the pipe of a name does not split the row
    from io import StringIO

    csv = pd.read_csv(StringIO(render(board, "csv")), index_col="run")
    assert list(csv.index) == list(board.runs)
    assert csv.at["plain", "nDCG@10"] == round(board.values.at["plain", "nDCG@10"], 4)


def test_exports_of_the_dl20_store_through_the_cli(cli, dl20_store, tmp_path):
    """The real CLI writes every format; the LaTeX of the bundled runs compiles."""
    for fmt in ("latex", "html", "json", "markdown", "csv"):
        out = tmp_path / f"board.{fmt}"
        res = cli("leaderboard", "-c", "dl20", "-m", "nDCG@10", "AP(rel=2)", "-r", "bm25", "tasb", "bm25-rm3",
                  "-b", "bm25", "--ci", "-f", fmt, "-o", out, store=dl20_store)
        assert res.code == 0, res.err
    _pdflatex(tmp_path, (tmp_path / "board.latex").read_text())
    assert (tmp_path / "board.html").read_text().startswith("<!DOCTYPE html>")



def test_dash_as_output_is_stdout_for_every_export(cli, dl20_store, tmp_path, monkeypatch):
    """`-o -` is stdout for score exports as for leaderboards; it used to write a file named '-' in the cwd."""
    monkeypatch.chdir(tmp_path)
    res = cli("export", "scores", "-c", "dl20", "-m", "recip_rank", "-r", "bm25", "-f", "csv", "-o", "-",
              store=dl20_store)
    assert res.code == 0, res.err
    assert res.out.splitlines()[0] == "run,query_id,measure,value"
    assert res.out.splitlines()[1].startswith("bm25,all,recip_rank,0.")
    res = cli("leaderboard", "-c", "dl20", "-m", "nDCG@10", "-r", "bm25", "-o", "-", store=dl20_store)
    assert res.code == 0 and res.out.startswith("| run | nDCG@10 |")
    res = cli("export", "scores", "-c", "dl20", "-r", "bm25", "-f", "parquet", "-o", "-", store=dl20_store)
    assert res.code == 2 and "parquet needs an output file" in res.err
    assert list(tmp_path.iterdir()) == []
