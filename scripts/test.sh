#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint and type-check, then run the whole test suite, slow, retrieval and browser tests
# included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The real-browser test needs Debian's chromium and chromedriver (a test tool's own browser download fails here).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
            >/dev/null 2>&1 || echo "warning: could not install chromium; browser tests will be skipped" >&2
    fi
fi
# The LaTeX export is compiled by a test: pdflatex and booktabs from Debian (~48 MB download, no recommends).
if ! command -v pdflatex >/dev/null 2>&1 || ! kpsewhich booktabs.sty >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            texlive-latex-base texlive-latex-recommended) \
            >/dev/null 2>&1 || echo "warning: could not install pdflatex; LaTeX compile tests will be skipped" >&2
    fi
fi
# The habits before the tests (issue 18): ruff (style, and complexity C901 at [tool.ruff.lint.mccabe]) on the
# whole checkout, mypy on the package ([tool.mypy]); either failing fails the run.
.venv/bin/ruff check .
.venv/bin/mypy
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OPENAI_API_KEY=${OPENAI_API_KEY:-unused}
# --durations=25: every run lists its slowest tests (the guide keeps the suite near 15 minutes).
exec .venv/bin/python -m pytest --durations=25 "$@"
