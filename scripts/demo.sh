#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job on the bundled data: `workbench demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/workbench demo "$@"
