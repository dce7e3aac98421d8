"""RTC tokens (AccessToken2, "007") for the recorder uid, with Agora's own token builder."""

from __future__ import annotations

import time

from agoraiotools.RtcTokenBuilder2 import Role_Publisher, RtcTokenBuilder

from config.settings import Settings


def recorder_token(settings: Settings, cname: str, uid: str) -> str | None:
    """A token for ``uid`` in ``cname`` outliving the longest recording, or None without a
    certificate. Cloud recording cannot renew tokens, so the lifetime is set once here."""
    if settings.agora_app_certificate is None or not settings.agora_app_id:
        return None
    token: str = RtcTokenBuilder.build_token_with_uid(
        settings.agora_app_id,
        settings.agora_app_certificate.reveal(),
        cname,
        int(uid),
        Role_Publisher,
        settings.recorder_token_ttl_s,
        settings.recorder_token_ttl_s,
    )
    return token


def expires_at(settings: Settings) -> int:
    return int(time.time()) + settings.recorder_token_ttl_s
