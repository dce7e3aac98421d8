"""Settings module for ``rq worker -c config.rq_worker`` (RQ reads its UPPERCASE names)."""

from config.logging import configure_logging
from config.metrics import prepare
from config.settings import load_settings

_settings = load_settings()
prepare(_settings, "worker")  # before anything imports prometheus_client

from workers.joblog import JobContextFilter  # noqa: E402
from workers.queues import ALL_QUEUES  # noqa: E402

configure_logging(_settings.log_level, _settings.secret_values(), [JobContextFilter()])

REDIS_URL = _settings.redis_url
QUEUES = list(ALL_QUEUES)
