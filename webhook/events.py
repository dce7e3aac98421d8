"""Turn a verified raw body into a validated NCS event, or say exactly what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from marshmallow import ValidationError

from webhook.schemas import (
    CHANNEL_PAYLOADS,
    ENVELOPE,
    RECORDING_DETAILS,
    RECORDING_PAYLOAD,
    SID,
)

PRODUCT_RTC = 1
PRODUCT_CLOUD_RECORDING = 3
# The one nesting limit of an accepted body, checked before anything is stored. Agora's
# deepest event is 4 levels; orjson reads 1024 but writes only 255, so a limit well below
# both keeps every accepted body storable.
MAX_DEPTH = 64


class InvalidEvent(ValueError):
    """The body is not an acceptable NCS event; ``fields`` says which parts failed."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__("invalid event")
        self.fields = fields


@dataclass(frozen=True)
class Event:
    """A validated callback: the original JSON object plus what routing needs."""

    notice_id: str
    product_id: int
    event_type: int
    notify_ms: int
    stream: str | None  # whose inbox it joins: "s:<sid>", "c:<channel>", or None
    known: bool  # a product and event type whose schema was checked
    body: dict[str, Any]

    @property
    def sid(self) -> str | None:
        return self.stream[2:] if self.stream and self.stream.startswith("s:") else None

    @property
    def cname(self) -> str | None:
        payload = self.body["payload"]
        name = payload.get("cname", payload.get("channelName"))
        return name if isinstance(name, str) else None


def parse_json(raw: bytes) -> Any:
    """Decode ``raw`` strictly: UTF-8, at most MAX_DEPTH levels deep, integers within 64 bits."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _is_invalid_utf8(raw):
            raise InvalidEvent({"_body": ["Body is not valid UTF-8."]}) from None
        if str(exc).startswith("depth limit exceeded"):
            raise InvalidEvent({"_body": [_TOO_DEEP]}) from None
        raise InvalidEvent({"_body": [f"Body is not valid JSON: {exc}"]}) from None
    if depth(value) > MAX_DEPTH:
        raise InvalidEvent({"_body": [_TOO_DEEP]})
    return value


_TOO_DEEP = f"Body is nested deeper than {MAX_DEPTH} levels."


def depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value (a scalar is 0, ``{}`` is 1), at most MAX_DEPTH + 1.

    Iterative, and stops as soon as the limit is passed.
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _is_invalid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def parse_event(raw: bytes) -> Event:
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidEvent({"_body": ["Body must be a JSON object."]})
    errors = ENVELOPE.validate(body)
    if errors:
        raise InvalidEvent(errors)
    payload: dict[str, Any] = body["payload"]
    product, event_type = body["productId"], body["eventType"]
    # The sid a session is filed under is payload.sid; an envelope naming another is refused
    # rather than guessed at. (RTC channel events carry a top-level sid of their own.)
    names_sid = product == PRODUCT_CLOUD_RECORDING or "sid" in payload
    if "sid" in body and names_sid and body["sid"] != payload.get("sid"):
        raise InvalidEvent({"sid": ["Must equal payload.sid."]})
    if is_console_check(product, payload):
        return _event(body, None, known=False)
    if product == PRODUCT_CLOUD_RECORDING:
        return _recording_event(body, payload, event_type)
    if product == PRODUCT_RTC and event_type in CHANNEL_PAYLOADS:
        errors = CHANNEL_PAYLOADS[event_type].validate(payload)
        if errors:
            raise InvalidEvent({"payload": errors})
        return _event(body, "c:" + payload["channelName"], known=True)
    return _event(body, None, known=False)


# What a session's or a channel's events always name; a payload with none of them belongs
# to no session or channel.
_ROUTING_FIELDS = {
    PRODUCT_CLOUD_RECORDING: ("sid", "cname", "uid", "sequence", "details"),
    PRODUCT_RTC: ("channelName", "uid"),
}


def is_console_check(product: int, payload: dict[str, Any]) -> bool:
    """The Console's "Check" sends test events shaped like Agora's signature example
    (``"payload": {"a": "1", "b": 2}``) for each subscribed type and fails the set-up
    unless each gets a 200: kept unrouted, they change no state."""
    names = _ROUTING_FIELDS.get(product)
    return names is not None and not any(name in payload for name in names)


def _recording_event(body: dict[str, Any], payload: dict[str, Any], event_type: int) -> Event:
    details_schema = RECORDING_DETAILS.get(event_type)
    if details_schema is None:
        # An event type we do not know yet: kept under its session when it names one.
        sid = payload.get("sid")
        if sid is None:
            return _event(body, None, known=False)
        try:
            if not isinstance(sid, str):
                raise ValidationError("Not a valid string.")
            SID(sid)
        except ValidationError as exc:
            raise InvalidEvent({"payload": {"sid": exc.messages}}) from None
        return _event(body, "s:" + sid, known=False)
    errors: dict[str, Any] = RECORDING_PAYLOAD.validate(payload)
    if not errors:
        details_errors = details_schema.validate(payload["details"])
        if details_errors:
            errors = {"details": details_errors}
    if errors:
        raise InvalidEvent({"payload": errors})
    return _event(body, "s:" + payload["sid"], known=True)


def _event(body: dict[str, Any], stream: str | None, *, known: bool) -> Event:
    return Event(
        notice_id=body["noticeId"],
        product_id=body["productId"],
        event_type=body["eventType"],
        notify_ms=body["notifyMs"],
        stream=stream,
        known=known,
        body=body,
    )


def is_stale(event: Event, now_ms: int, max_skew_s: int) -> bool:
    return abs(now_ms - event.notify_ms) > max_skew_s * 1000
