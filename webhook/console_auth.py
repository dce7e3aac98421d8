"""The console's login cookie and CSRF tokens, stateless and derived from the ops token.

The cookie is ``<expires>.<nonce>.<mac>``: a random nonce, its expiry and an HMAC under a
key derived from the ops token. It never carries the token in any encoding, yet any web
process verifies it without shared state, and changing ``OPS_API_TOKEN`` logs everyone
out. The CSRF token of a login is another HMAC of its nonce, so a form posted from another
site (which cannot read the page) has none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

COOKIE = "rb_console"
LIFETIME_S = 12 * 3600
CSRF_FIELD = "csrf_token"


def _key(ops_token: str) -> bytes:
    return hmac.new(ops_token.encode(), b"recbridge console cookie v1", hashlib.sha256).digest()


def _mac(ops_token: str, purpose: str, text: str) -> str:
    digest = hmac.new(_key(ops_token), f"{purpose}|{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_matches(given: str, ops_token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), ops_token.encode())


def issue(ops_token: str, now_s: float | None = None) -> str:
    expires = int(time.time() if now_s is None else now_s) + LIFETIME_S
    body = f"{expires}.{secrets.token_urlsafe(18)}"
    return f"{body}.{_mac(ops_token, 'login', body)}"


def verify(ops_token: str, cookie: str | None, now_s: float | None = None) -> str | None:
    """The login's nonce when ``cookie`` is a valid, unexpired login; else None."""
    if not cookie or cookie.count(".") != 2:
        return None
    expires, nonce, mac = cookie.split(".")
    if not hmac.compare_digest(
        mac.encode(), _mac(ops_token, "login", f"{expires}.{nonce}").encode()
    ):
        return None
    if not expires.isdigit() or int(expires) < (time.time() if now_s is None else now_s):
        return None
    return nonce


def csrf_token(ops_token: str, nonce: str) -> str:
    return _mac(ops_token, "csrf", nonce)


def csrf_matches(ops_token: str, nonce: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8", "replace"), csrf_token(ops_token, nonce).encode()
    )
