"""Faults the emulator can inject, switched per run (``POST /_emulator/faults``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Faults:
    # Callback delivery
    duplicates: float = 0.0  # share of callbacks sent twice (same noticeId)
    redundant: float = 0.0  # share sent again with a new noticeId (Agora's redundant copies)
    drops: float = 0.0  # share never sent
    reorder_ms: int = 0  # each callback delayed by a random 0..reorder_ms
    delay_ms: int = 0  # every callback delayed by this much
    # Sessions
    failover: bool = False  # next started session fails over: event 12 and a temporary 404
    failover_s: float = 20.0  # how long query/stop answer 404 during a failover
    abnormal_exit: bool = False  # next started session exits with exitStatus 1
    never_records: bool = False  # next started session never reports recording (no 40)
    lose_exit: bool = False  # next session to end never sends session_exit (11): NCS lost it
    upload_after_exit: bool = False  # next session to end sends 31 after 11 (observed order)
    failover_copies: bool = False  # the new server of a failover resends the 43s (new uid)
    # REST answers, counted down per call
    start_206: int = 0  # next start calls answer 206 / code 65, and nothing started
    start_206_started: int = 0  # next start calls start the task, yet answer 206 / code 65
    start_432: int = 0  # next start calls answer 400 / code 432 (parameters vs resource)
    stop_1003: int = 0  # next stop calls answer 400 / code 1003 (sid vs resource)
    stop_501: int = 0  # next stop calls find the task exiting: 400 / code 501
    stop_50: int = 0  # next (synchronous) stop calls stop, but the upload outlasts 20 s: 50
    server_errors: int = 0  # next calls (any endpoint) answer 500 / code 500
    rate_limited: int = 0  # next calls answer 429
    stop_nothing_recorded: int = 0  # next stop calls answer 206 / code 435
    # Answer shapes
    file_list_mode: str = "json"  # "string": query and stop answer fileList as one String

    def _check(self, name: str, current: Any, value: Any) -> None:
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
        elif isinstance(current, str):
            if value not in ("json", "string"):
                raise ValueError(f"{name} must be json or string")
        elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")

    def update(self, changes: Any) -> None:
        if not isinstance(changes, dict):
            raise ValueError('faults must be a JSON object, e.g. {"drops": 0.2}')
        known = {f.name: f.type for f in fields(self)}
        unknown = {str(name) for name in changes} - set(known)
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            current = getattr(self, name)
            self._check(name, current, value)
            setattr(self, name, type(current)(value))

    def take(self, name: str) -> bool:
        """Use up one of a counted fault (or a one-shot flag); True when it applied."""
        value = getattr(self, name)
        if isinstance(value, bool):
            setattr(self, name, False)
            return value
        if value > 0:
            setattr(self, name, value - 1)
            return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
