"""Structured JSON logs, one line per event, with every configured secret redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import orjson

from config.rq_logs import RqLogFilter

# Attributes every LogRecord has; anything else came from ``extra=`` and is logged as a field.
_RECORD_FIELDS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
REDACTED = "[redacted]"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        rq_event = getattr(record, "rq_event", None)
        if rq_event is not None:  # RQ's free text (config.rq_logs): a name, and the text
            line["event"], line["message"] = rq_event, getattr(record, "rq_text", "")
        for name, value in record.__dict__.items():
            if name not in _RECORD_FIELDS and not name.startswith(("_", "rq_")):
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, longest first so a secret containing
    another is replaced whole."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter and replaces any secret value in its output."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record), self._secrets)


_HANDLER_NAME = "recbridge-json"


def configure_logging(
    level: str, secrets: Iterable[str], filters: Iterable[logging.Filter] = ()
) -> None:
    """Send every log line of this process, as JSON and redacted, to stdout."""
    # The JSON lines carry none of these; skipping them is the logging HOWTO's own advice
    # ("Optimization") and saves a stack walk and a lookup on every callback's log line. The
    # process id stays: gunicorn's own format prints it with %(process)d, and without it
    # every shutdown wrote a "--- Logging error ---" per worker.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(RedactingFormatter(JsonFormatter(), secrets))
    handler.addFilter(RqLogFilter())
    for log_filter in filters:
        handler.addFilter(log_filter)
    root.addHandler(handler)
    root.setLevel(level)
