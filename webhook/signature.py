"""NCS signature verification over the raw request body (agora-reference §3.4)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Protocol

V2_HEADER = "Agora-Signature-V2"  # HMAC-SHA256, lowercase hex
V1_HEADER = "Agora-Signature"  # HMAC-SHA1, lowercase hex


class Headers(Protocol):
    def get(self, key: str, default: str) -> str: ...


def sign(secret: str, raw_body: bytes) -> dict[str, str]:
    """Both headers NCS would send for ``raw_body``; used by tests and the emulator."""
    key = secret.encode("utf-8")
    return {
        V1_HEADER: hmac.new(key, raw_body, hashlib.sha1).hexdigest(),
        V2_HEADER: hmac.new(key, raw_body, hashlib.sha256).hexdigest(),
    }


def verify(raw_body: bytes, headers: Headers, secrets: Iterable[str]) -> bool:
    """True when either signature header matches ``raw_body`` under any of ``secrets``.

    Every secret is tried even after a match so the time taken does not depend on which
    secret (or whether any) matched.
    """
    given_v2 = headers.get(V2_HEADER, "").strip().encode("ascii", "replace")
    given_v1 = headers.get(V1_HEADER, "").strip().encode("ascii", "replace")
    if not given_v2 and not given_v1:
        return False
    matched = False
    for secret in secrets:
        key = secret.encode("utf-8")
        if given_v2:
            expected = hmac.new(key, raw_body, hashlib.sha256).hexdigest().encode("ascii")
            matched |= hmac.compare_digest(expected, given_v2)
        if given_v1:
            expected = hmac.new(key, raw_body, hashlib.sha1).hexdigest().encode("ascii")
            matched |= hmac.compare_digest(expected, given_v1)
    return matched
