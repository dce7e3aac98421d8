"""Settings module for ``rq worker -c config.rq_worker`` (RQ reads its UPPERCASE names)."""

from config.logging import configure_logging
from config.settings import load_settings
from workers.queues import ALL_QUEUES

_settings = load_settings()
configure_logging(_settings.log_level, _settings.secret_values())

REDIS_URL = _settings.redis_url
QUEUES = list(ALL_QUEUES)
