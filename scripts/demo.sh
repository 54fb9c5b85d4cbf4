#!/usr/bin/env bash
# The main job on the embedded default: local broker, sample history, worker until caught up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kafka.sh up
exec .venv/bin/python scripts/demo.py
