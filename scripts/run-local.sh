#!/usr/bin/env bash
# Run the whole service locally: Redis (started here when none answers), web, worker, clock
# and the Agora emulator, with development settings from dev.env, on 127.0.0.1 only.
# Ctrl-C stops everything, also the Redis started here (config/devrun.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m config.devrun
