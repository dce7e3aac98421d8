"""What follows an attempt: pure decisions, tested row by row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    status: str  # "delivered" | "pending" (retry at next_ms) | "failed" (dead letter)
    next_ms: int | None
    disable: str | None  # a reason to disable the endpoint now, or None


def outcome_of(status_code: int | None, error: str | None) -> str:
    """The metric label of an attempt."""
    if status_code is None:
        return error or "error"
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "gone"
    if 300 <= status_code < 400:
        return "redirect"  # not followed: a moved endpoint must be re-registered
    return f"http_{status_code // 100}xx"


def after_attempt(
    status_code: int | None,
    attempt_no: int,
    schedule_s: tuple[int, ...],
    jitter: float,
    now_ms: int,
    failing_since_ms: int | None,
    disable_after_s: int,
) -> Verdict:
    """``attempt_no`` counts from 1; ``jitter`` is in [-1, 1] and moves a retry by up to 10%.

    2xx delivers. 410 Gone fails the message and disables the endpoint at once. Anything
    else (no answer included) retries on the schedule, then fails the message; and an
    endpoint that has been failing for ``disable_after_s`` is disabled.
    """
    if status_code is not None and 200 <= status_code < 300:
        return Verdict("delivered", None, None)
    if status_code == 410:
        return Verdict("failed", None, "gone")
    failing_for_ms = now_ms - (failing_since_ms if failing_since_ms is not None else now_ms)
    disable = "failing" if failing_for_ms >= disable_after_s * 1000 else None
    if attempt_no > len(schedule_s):
        return Verdict("failed", None, disable)
    delay_ms = schedule_s[attempt_no - 1] * 1000 * (1 + 0.1 * max(-1.0, min(1.0, jitter)))
    return Verdict("pending", now_ms + int(delay_ms), disable)
