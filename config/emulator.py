"""Settings of the Agora emulator (``python -m emulator``), from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from config.settings import SettingsError


@dataclass(frozen=True)
class EmulatorSettings:
    port: int = 9000
    callback_url: str = "http://127.0.0.1:8000/agora/ncs"
    # Development defaults, the same fake values as dev.env; the emulator is never deployed.
    ncs_secret: str = "dev-ncs-secret"  # noqa: S105
    customer_id: str = "dev-customer"
    customer_secret: str = "dev-customer-secret"  # noqa: S105
    app_id: str | None = None
    time_scale: float = 1.0
    qps: int = 10
    channel_uids: tuple[str, ...] = ("1001", "1002")
    resource_ttl_s: float = 300.0
    faults: str = "{}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EmulatorSettings:
        env = os.environ if env is None else env
        try:
            secrets = [s.strip() for s in env.get("AGORA_NCS_SECRET", cls.ncs_secret).split(",")]
            faults = env.get("EMULATOR_FAULTS", "{}")
            from emulator.faults import Faults  # noqa: PLC0415 - the emulator package imports us

            try:
                Faults().update(orjson.loads(faults))  # refused at start, naming the fault
            except ValueError as exc:
                raise SettingsError(f"EMULATOR_FAULTS: {exc}") from None
            return cls(
                port=int(env.get("EMULATOR_PORT", cls.port)),
                callback_url=env.get("EMULATOR_CALLBACK_URL", cls.callback_url),
                ncs_secret=secrets[0],
                customer_id=env.get("AGORA_CUSTOMER_ID", cls.customer_id),
                customer_secret=env.get("AGORA_CUSTOMER_SECRET", cls.customer_secret),
                app_id=env.get("AGORA_APP_ID") or None,
                time_scale=float(env.get("EMULATOR_TIME_SCALE", cls.time_scale)),
                qps=int(env.get("EMULATOR_QPS", cls.qps)),
                channel_uids=tuple(
                    u.strip()
                    for u in env.get("EMULATOR_CHANNEL_UIDS", "1001,1002").split(",")
                    if u.strip()
                ),
                resource_ttl_s=float(env.get("EMULATOR_RESOURCE_TTL_S", cls.resource_ttl_s)),
                faults=faults,
            )
        except SettingsError:
            raise
        except ValueError as exc:
            raise SettingsError(f"EMULATOR_*: {exc}") from None
