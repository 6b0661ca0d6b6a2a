"""What `workbench serve` hands to Streamlit: the script to run (`SCRIPT`) and the server's settings (`OPTIONS`).

The script sits in a folder of its own because Streamlit puts the script's folder first on sys.path: served from
workbench/app, that folder's modules (data, common, charts, pages) would shadow any top-level modules of those
names. The settings are passed as command-line options, so an installed wheel, which has no .streamlit/config.toml,
serves exactly as `streamlit run app.py` does in a checkout (a test keeps the two in step).
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = Path(__file__).with_name("dashboard.py")
MAX_UPLOAD_MB = 500
"""The server's upload cap (MB) unless $WORKBENCH_MAX_UPLOAD_MB says otherwise; the Runs page checks the same."""

OPTIONS: dict[str, str | int | bool] = {
    "server.address": "127.0.0.1",  # loopback only
    "server.headless": True,
    "server.maxUploadSize": MAX_UPLOAD_MB,
    "server.enableXsrfProtection": True,
    "server.runOnSave": False,
    "server.fileWatcherType": "none",  # a served tool does not reload itself, nor watch the disk
    "browser.gatherUsageStats": False,  # no telemetry
    "client.toolbarMode": "minimal",
    "theme.base": "light",
}
"""The settings of .streamlit/config.toml, as `streamlit run` options (`--server.port` etc.)."""


def command_options(overrides: dict[str, str | int | bool]) -> list[str]:
    """`OPTIONS` updated with `overrides` ({"server.port": 8501}) as `streamlit run` arguments."""
    options = {**OPTIONS, **overrides}
    return [arg for key, value in options.items()
            for arg in (f"--{key}", str(value).lower() if isinstance(value, bool) else str(value))]
