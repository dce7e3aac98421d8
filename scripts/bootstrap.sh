#!/usr/bin/env bash
# Create .venv with the pinned dependencies, and make sure redis-server, nginx (for the
# reverse-proxy test) and, for the console's browser tests, Debian's chromium are installed.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server for `make run` and the tests; nginx for the reverse-proxy test
# (tests/test_proxy.py runs deploy/nginx/ in front of gunicorn). Debian packages.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
if [ -n "$missing" ]; then
  echo "bootstrap: installing$missing (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "bootstrap: installing chromium (Debian package, for the console's browser tests)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python dependencies into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  # The `recbridge` operator command, pointing at this checkout.
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi
