"""One typed settings object, built from the environment.

This is the only module that reads ``os.environ``; everything else takes a ``Settings``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlparse

from config.redis_url import parse_redis_url, redis_url_secrets

T = TypeVar("T")

# Agora's fileNamePrefix rules (agora-reference §4.4): letters and digits per segment,
# at most 128 characters including the slashes.
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9]+$")
_PREFIX_MAX_LEN = 128


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A secret value that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


ROLLOVER_MARGIN_S = 15 * 60  # time for a new task to start and confirm before the old ends


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    ncs_secrets: tuple[Secret, ...] = ()
    ncs_max_skew_s: int = 300
    ncs_dedupe_ttl_s: int = 7 * 24 * 3600
    agora_app_id: str | None = None
    agora_customer_id: str | None = None
    agora_customer_secret: Secret | None = None
    agora_app_certificate: Secret | None = None
    agora_api_base: str = "https://api.agora.io"
    agora_recording_mode: str = "individual"
    agora_channel_type: int = 0
    agora_resource_expired_hour: int = 72
    agora_qps: int = 10
    storage_vendor: int | None = None
    storage_region: int | None = None
    storage_bucket: str | None = None
    storage_access_key: Secret | None = None
    storage_secret_key: Secret | None = None
    storage_file_prefix: tuple[str, ...] = ()
    ops_api_token: Secret | None = None
    recording_max_idle_time: int = 300
    recording_max_restarts: int = 3
    recording_poll_s: int = 60
    recording_start_confirm_s: int = 90
    agora_http_timeout_s: float = 10.0
    agora_retry_scale: float = 1.0
    recorder_token_ttl_s: int = 24 * 3600
    auto_record_channels: str = ""
    session_retention_s: int = 30 * 24 * 3600
    job_failure_ttl_s: int = 7 * 24 * 3600
    drain_concurrency: int = 2
    job_retry_intervals_s: tuple[int, ...] = (1, 5, 30, 120, 600)
    dead_letter_retention_s: int = 14 * 24 * 3600
    # fidelity: auto-record's end, planned rollover
    auto_record_grace_s: int = 60
    storage_sts_token: Secret | None = None  # temporary credentials (vendors 1, 2, 3)
    storage_sts_expiration: int | None = None  # Unix seconds
    storage_extension_params: tuple[tuple[str, str], ...] = ()  # sse, tag, endpoint
    recording_rollover_s: int | None = None  # None: before the token or resource expires
    log_level: str = "INFO"
    # -- Redis topology (topology) --
    redis_min_replicas: int = 0
    redis_wait_timeout_ms: int = 250
    metrics_dir: str = ""  # empty: one per Redis database in the temp dir (config.metrics)
    # ---- recording control at Agora's limits (issue 11) ----
    agora_api_bases: tuple[str, ...] = ()  # AGORA_API_BASES; empty: AGORA_API_BASE alone
    agora_qps_reserved: int = 3  # of AGORA_QPS, kept for acquire/start/stop/update
    recording_poll_silence_s: int = 150  # callbacks quieter than this: query the session
    recording_poll_quiet_max_s: int = 900  # query at least this often, callbacks or not
    # ---- notifications (issue 15) ----
    notify_signing_key: Secret | None = None
    notify_timeout_s: float = 15.0
    notify_retry_schedule_s: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    notify_disable_after_s: int = 5 * 24 * 3600
    notify_allowed_hosts: tuple[str, ...] = ()
    notify_endpoint_concurrency: int = 8
    notify_retention_s: int = 7 * 24 * 3600
    # ---- the console (issue 14) ----
    console_refresh_s: int = 5  # how often a console page refreshes its live part

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            redis_url=reader.get("REDIS_URL", cls.redis_url, _redis_url),
            ncs_secrets=reader.get("AGORA_NCS_SECRET", (), _secret_list),
            ncs_max_skew_s=reader.get("NCS_MAX_SKEW_S", cls.ncs_max_skew_s, _positive_int),
            ncs_dedupe_ttl_s=reader.get("NCS_DEDUPE_TTL_S", cls.ncs_dedupe_ttl_s, _positive_int),
            agora_app_id=reader.get("AGORA_APP_ID", None, _text),
            agora_customer_id=reader.get("AGORA_CUSTOMER_ID", None, _text),
            agora_customer_secret=reader.get("AGORA_CUSTOMER_SECRET", None, Secret),
            agora_app_certificate=reader.get("AGORA_APP_CERTIFICATE", None, Secret),
            agora_api_base=reader.get("AGORA_API_BASE", cls.agora_api_base, _http_url),
            agora_recording_mode=reader.get(
                "AGORA_RECORDING_MODE", cls.agora_recording_mode, _one_of("individual", "raw")
            ),
            agora_channel_type=reader.get("AGORA_CHANNEL_TYPE", 0, _one_of_int(0, 1)),
            agora_resource_expired_hour=reader.get(
                "AGORA_RESOURCE_EXPIRED_HOUR", 72, _int_between(1, 720)
            ),
            agora_qps=reader.get("AGORA_QPS", cls.agora_qps, _positive_int),
            storage_vendor=reader.get("STORAGE_VENDOR", None, _non_negative_int),
            storage_region=reader.get("STORAGE_REGION", None, _non_negative_int),
            storage_bucket=reader.get("STORAGE_BUCKET", None, _text),
            storage_access_key=reader.get("STORAGE_ACCESS_KEY", None, Secret),
            storage_secret_key=reader.get("STORAGE_SECRET_KEY", None, Secret),
            storage_file_prefix=reader.get("STORAGE_FILE_PREFIX", (), _file_prefix),
            ops_api_token=reader.get("OPS_API_TOKEN", None, Secret),
            recording_max_idle_time=reader.get(
                "RECORDING_MAX_IDLE_TIME", 300, _int_between(5, 2_592_000)
            ),
            recording_max_restarts=reader.get("RECORDING_MAX_RESTARTS", 3, _non_negative_int),
            recording_poll_s=reader.get("RECORDING_POLL_S", 60, _positive_int),
            recording_start_confirm_s=reader.get("RECORDING_START_CONFIRM_S", 90, _positive_int),
            agora_http_timeout_s=reader.get("AGORA_HTTP_TIMEOUT_S", 10.0, _positive_float),
            agora_retry_scale=reader.get("AGORA_RETRY_SCALE", 1.0, _positive_float),
            recorder_token_ttl_s=reader.get("RECORDER_TOKEN_TTL_S", 24 * 3600, _positive_int),
            auto_record_channels=reader.get("AUTO_RECORD_CHANNELS", "", str.strip),
            session_retention_s=reader.get(
                "SESSION_RETENTION_DAYS", 30 * 24 * 3600, _days_to_seconds
            ),
            job_failure_ttl_s=reader.get("JOB_FAILURE_TTL_S", 7 * 24 * 3600, _positive_int),
            drain_concurrency=reader.get("DRAIN_CONCURRENCY", 2, _positive_int),
            job_retry_intervals_s=reader.get(
                "JOB_RETRY_INTERVALS_S", cls.job_retry_intervals_s, _int_list
            ),
            dead_letter_retention_s=reader.get(
                "DEAD_LETTER_RETENTION_DAYS", 14 * 24 * 3600, _days_to_seconds
            ),
            auto_record_grace_s=reader.get("AUTO_RECORD_GRACE_S", 60, _non_negative_int),
            storage_sts_token=reader.get("STORAGE_STS_TOKEN", None, Secret),
            storage_sts_expiration=reader.get("STORAGE_STS_EXPIRATION", None, _positive_int),
            storage_extension_params=reader.get("STORAGE_EXTENSION_PARAMS", (), _extension_params),
            recording_rollover_s=reader.get("RECORDING_ROLLOVER_S", None, _positive_int),
            log_level=reader.get("LOG_LEVEL", "INFO", _log_level),
            redis_min_replicas=reader.get("REDIS_MIN_REPLICAS", 0, _non_negative_int),
            # Within the web client's 3 s socket timeout, and far inside NCS's 10 s.
            redis_wait_timeout_ms=reader.get("REDIS_WAIT_TIMEOUT_MS", 250, _int_between(1, 2_000)),
            metrics_dir=reader.get("METRICS_DIR", cls.metrics_dir, _text),
            agora_api_bases=reader.get("AGORA_API_BASES", (), _http_url_list),
            agora_qps_reserved=reader.get("AGORA_QPS_RESERVED", 3, _non_negative_int),
            recording_poll_silence_s=reader.get("RECORDING_POLL_SILENCE_S", 150, _positive_int),
            recording_poll_quiet_max_s=reader.get("RECORDING_POLL_QUIET_MAX_S", 900, _positive_int),
            notify_signing_key=reader.get("NOTIFY_SIGNING_KEY", None, _signing_key),
            notify_timeout_s=reader.get("NOTIFY_TIMEOUT_S", cls.notify_timeout_s, _positive_float),
            notify_retry_schedule_s=reader.get(
                "NOTIFY_RETRY_SCHEDULE_S", cls.notify_retry_schedule_s, _int_list
            ),
            notify_disable_after_s=reader.get(
                "NOTIFY_DISABLE_AFTER_S", cls.notify_disable_after_s, _positive_int
            ),
            notify_allowed_hosts=reader.get("NOTIFY_ALLOWED_HOSTS", (), _host_list),
            notify_endpoint_concurrency=reader.get(
                "NOTIFY_ENDPOINT_CONCURRENCY", cls.notify_endpoint_concurrency, _positive_int
            ),
            notify_retention_s=reader.get(
                "NOTIFY_RETENTION_DAYS", cls.notify_retention_s, _days_to_seconds
            ),
            console_refresh_s=reader.get("CONSOLE_REFRESH_S", cls.console_refresh_s, _positive_int),
        )
        reader.raise_errors()
        if settings.agora_qps_reserved >= settings.agora_qps:
            raise SettingsError(
                "AGORA_QPS_RESERVED: must be below AGORA_QPS, or queries could never run"
            )
        return settings

    @property
    def rollover_after_s(self) -> int:
        """How long one Agora task may record before a planned rollover: the recorder's
        token cannot be renewed and ``query``/``stop`` work only for ``resourceExpiredHour``
        after the start, so a new task starts a margin before the first of the two ends."""
        if self.recording_rollover_s is not None:
            return self.recording_rollover_s
        limit = min(self.recorder_token_ttl_s, self.agora_resource_expired_hour * 3600)
        return max(limit - ROLLOVER_MARGIN_S, limit // 2)

    def require_web(self) -> Settings:
        """The web process refuses to start without an NCS secret."""
        if not self.ncs_secrets:
            raise SettingsError("AGORA_NCS_SECRET: required; set the NCS secret from Agora Console")
        return self

    @property
    def api_bases(self) -> tuple[str, ...]:
        """Agora's REST domains in order of preference (the first is the primary)."""
        return self.agora_api_bases or (self.agora_api_base,)

    @property
    def recording_enabled(self) -> bool:
        return bool(self.agora_app_id)

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret in clear, for the log redaction filter."""
        values: list[str] = [s.reveal() for s in self.ncs_secrets]
        values.extend(redis_url_secrets(self.redis_url))
        for secret in (
            self.agora_customer_secret,
            self.agora_app_certificate,
            self.storage_access_key,
            self.storage_secret_key,
            self.storage_sts_token,
            self.ops_api_token,
            self.notify_signing_key,
        ):
            if secret is not None:
                values.append(secret.reveal())
        return tuple(v for v in values if v)


class _Reader:
    """Reads variables, collecting every error so one run names them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._errors: list[str] = []

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except (ValueError, TypeError) as exc:
            self._errors.append(f"{name}: {exc}")
            return default

    def raise_errors(self) -> None:
        if self._errors:
            raise SettingsError("; ".join(self._errors))


def _text(raw: str) -> str:
    return raw


def _int(raw: str) -> int:
    try:
        return int(raw, 10)
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError(f"expected a non-negative integer, got {value}")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _int_list(raw: str) -> tuple[int, ...]:
    if raw.lower() == "none":
        return ()
    return tuple(_non_negative_int(part.strip()) for part in raw.split(","))


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = _int(raw)
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {value}")
        return value

    return parse


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return raw

    return parse


def _one_of_int(*choices: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = _int(raw)
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(str, choices))}, got {value}")
        return value

    return parse


def _days_to_seconds(raw: str) -> int:
    return _positive_int(raw) * 24 * 3600


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {raw!r}")
    return level


def _redis_url(raw: str) -> str:
    parse_redis_url(raw)  # raises ValueError naming what is wrong
    return raw


def _http_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return raw.rstrip("/")


def _http_url_list(raw: str) -> tuple[str, ...]:
    bases = tuple(_http_url(part.strip()) for part in raw.split(",") if part.strip())
    if not bases:
        raise ValueError("no URL given")
    if len(set(bases)) != len(bases):
        raise ValueError("a URL is listed twice")
    return bases


def _secret_list(raw: str) -> tuple[Secret, ...]:
    secrets = tuple(Secret(part.strip()) for part in raw.split(",") if part.strip())
    if not secrets:
        raise ValueError("no secret given")
    return secrets


_EXTENSION_PARAMS = ("sse", "tag", "endpoint")


def _extension_params(raw: str) -> tuple[tuple[str, str], ...]:
    """``sse=kms,tag=RETENTION_DAYS=30,endpoint=s3.example.com``: Agora's
    ``storageConfig.extensionParams`` (sse: S3 only; tag: S3 and Alibaba; endpoint: the
    domain of an S3-compatible store, vendor 11)."""
    params = []
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        name, _, value = item.partition("=")
        if name not in _EXTENSION_PARAMS or not value:
            raise ValueError(f"expected name=value with name one of {', '.join(_EXTENSION_PARAMS)}")
        params.append((name, value))
    return tuple(params)


def _file_prefix(raw: str) -> tuple[str, ...]:
    segments = tuple(raw.strip("/").split("/")) if raw.strip("/") else ()
    for segment in segments:
        if not _PREFIX_SEGMENT.match(segment):
            raise ValueError(
                f"segment {segment!r} may only hold letters and digits "
                "(Agora's fileNamePrefix rule)"
            )
    if len("/".join(segments)) > _PREFIX_MAX_LEN:
        raise ValueError(f"longer than {_PREFIX_MAX_LEN} characters")
    return segments


def _signing_key(raw: str) -> Secret:
    if len(raw) < 16:
        raise ValueError("expected at least 16 characters (a random key, e.g. 32 bytes in hex)")
    return Secret(raw)


def _host_list(raw: str) -> tuple[str, ...]:
    """Hosts or CIDRs; each checked here so a typo stops the process at start."""
    entries = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for entry in entries:
        if "/" in entry:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not a valid CIDR") from None
        elif not re.fullmatch(r"[a-z0-9.:\[\]-]+", entry):
            raise ValueError(f"{entry!r} is not a host name or address")
    return entries


def load_settings() -> Settings:
    """Settings of this process, from its environment."""
    return Settings.from_env()


def settings_or_exit(*, web: bool = False) -> Settings:
    """A process's settings at start-up; a wrong setting ends the process with status 1
    and one line on stderr naming the variable, the same for web, worker and clock."""
    try:
        settings = load_settings()
        return settings.require_web() if web else settings
    except SettingsError as exc:
        sys.stderr.write(f"recbridge: cannot start: {exc}\n")
        raise SystemExit(1) from None
