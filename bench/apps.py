"""The two yardsticks recbridge's ingest is measured against, under the same gunicorn.

- ceiling: a bare Flask view that answers 200 without reading the body;
- peer: the straightforward handler a team would write (HMAC, json.loads, a marshmallow
  schema built per request, SET NX, then one RQ job per callback).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from flask import Flask, jsonify, request
from marshmallow import INCLUDE, Schema, fields
from redis import Redis
from rq import Queue

from bench.payloads import SECRET
from config.settings import load_settings


def ceiling_app() -> Flask:
    app = Flask("ceiling")

    @app.post("/agora/ncs")
    def ncs() -> Any:
        return jsonify({"status": "accepted"})

    return app


def process_event(event: dict[str, Any]) -> None:
    """What the peer's job would do; never run by the benchmark's ingest part."""


def peer_app() -> Flask:
    app = Flask("peer")
    redis = Redis.from_url(load_settings().redis_url)
    queue = Queue("peer", connection=redis)

    @app.post("/agora/ncs")
    def ncs() -> Any:
        raw = request.get_data()
        expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("Agora-Signature-V2", "")):
            return jsonify({"error": "invalid_signature"}), 401
        data = json.loads(raw)

        class Details(Schema):
            class Meta:
                unknown = INCLUDE

            msgName = fields.String(required=True)

        class Payload(Schema):
            class Meta:
                unknown = INCLUDE

            sid = fields.String(required=True)
            cname = fields.String(required=True)
            uid = fields.String(required=True)
            sequence = fields.Integer(required=True)
            details = fields.Nested(Details, required=True)

        class Event(Schema):
            class Meta:
                unknown = INCLUDE

            noticeId = fields.String(required=True)
            productId = fields.Integer(required=True)
            eventType = fields.Integer(required=True)
            notifyMs = fields.Integer(required=True)
            payload = fields.Nested(Payload, required=True)

        errors = Event().validate(data)
        if errors:
            return jsonify({"error": "invalid_event", "fields": errors}), 400
        if not redis.set(f"peer:notice:{data['noticeId']}", 1, nx=True, ex=7 * 24 * 3600):
            return jsonify({"status": "duplicate"})
        queue.enqueue(process_event, data)
        return jsonify({"status": "accepted"})

    return app
