"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from redis import RedisError

from webhook.context import app_state
from workers import keys

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@health_bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    redis = app_state().redis
    checks: dict[str, str] = {}
    try:
        redis.ping()
        checks["redis"] = "ok"
    except RedisError as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    try:
        # The write a callback needs: fails on a read-only replica or an OOM-refusing Redis.
        redis.set(keys.READY_PROBE, 1, ex=10)
        checks["queue_write"] = "ok"
    except RedisError as exc:
        checks["queue_write"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
        200 if ready else 503
    )
