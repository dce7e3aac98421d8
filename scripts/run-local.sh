#!/usr/bin/env bash
# Run the whole service locally: Redis (started here when none answers), web, worker and
# the Agora emulator, with development settings from dev.env. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

export PATH="$PWD/.venv/bin:$PATH" PYTHONPATH="$PWD"
set -a; . ./dev.env; set +a
redis_port=$(.venv/bin/python -c "from urllib.parse import urlparse; import os; print(urlparse(os.environ['REDIS_URL']).port or 6379)")
if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  echo "run: no Redis on port $redis_port, starting one (data in var/redis)"
  mkdir -p var/redis
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir var/redis --appendonly yes \
    --daemonize yes --logfile redis.log
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
exec .venv/bin/honcho -f Procfile.dev -e dev.env start
