"""Standard Webhooks signing: pure functions over raw bytes.

An endpoint's secret is never stored: it is derived from ``NOTIFY_SIGNING_KEY``, the
endpoint id and the secret's version, so Redis holds nothing that can sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def derive_secret(signing_key: str, endpoint_id: str, version: int) -> str:
    """The endpoint's ``whsec_<base64>`` secret of this version (24 random-looking bytes)."""
    raw = hmac.new(
        signing_key.encode(), f"endpoint:{endpoint_id}:v{version}".encode(), hashlib.sha256
    ).digest()[:24]
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: list[str], message_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three headers; one signature per valid secret, space-separated (rotation)."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": " ".join(signature(s, message_id, timestamp_s, body) for s in secrets),
    }
