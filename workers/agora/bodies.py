"""Request bodies of the Cloud Recording REST API, individual audio non-transcoding
(agora-reference §4.3-4.8). Pure functions: they never log, since bodies carry storage keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from config.settings import Settings

ALL_STREAMS = "#allstream#"
STS_VENDORS = frozenset({1, 2, 3})  # stsToken / stsExpiration (agora-reference §4.4)
S3_COMPATIBLE = 11
MAX_SUBSCRIBED_UIDS = 32
# subscribeUidGroup: the estimated peak of subscribed uids, by its upper bound.
_UID_GROUPS = ((2, 0), (7, 1), (12, 2), (17, 3), (32, 4), (49, 5))
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9]+$")


class InvalidRequest(ValueError):
    pass


def subscribe_uid_group(uid_count: int | None) -> int:
    """The group for ``uid_count`` subscribed uids; ``None`` (all streams) takes the largest."""
    if uid_count is None:
        return _UID_GROUPS[-1][1]
    for upper, group in _UID_GROUPS:
        if uid_count <= upper:
            return group
    raise InvalidRequest(f"at most {_UID_GROUPS[-1][0]} uids can be subscribed")


def check_file_prefix(prefix: Sequence[str]) -> None:
    """Agora's fileNamePrefix rules, checked before any call is made."""
    for segment in prefix:
        if not _PREFIX_SEGMENT.match(segment):
            raise InvalidRequest(f"fileNamePrefix segment {segment!r}: letters and digits only")
    if len("/".join(prefix)) > 128:
        raise InvalidRequest("fileNamePrefix longer than 128 characters")


def acquire_body(
    settings: Settings, cname: str, uid: str, exclude_resource_ids: Sequence[str] = ()
) -> dict[str, Any]:
    client_request: dict[str, Any] = {
        "scene": 0,
        "resourceExpiredHour": settings.agora_resource_expired_hour,
    }
    if exclude_resource_ids:
        client_request["excludeResourceIds"] = list(exclude_resource_ids)
    return {"cname": cname, "uid": uid, "clientRequest": client_request}


def storage_config(settings: Settings) -> dict[str, Any]:
    check_file_prefix(settings.storage_file_prefix)
    config: dict[str, Any] = {
        "vendor": settings.storage_vendor,
        "region": settings.storage_region,
        "bucket": settings.storage_bucket,
        "accessKey": settings.storage_access_key.reveal() if settings.storage_access_key else None,
        "secretKey": settings.storage_secret_key.reveal() if settings.storage_secret_key else None,
    }
    missing = [name for name, value in config.items() if value is None]
    if missing:
        raise InvalidRequest(f"storageConfig needs {', '.join(missing)} (STORAGE_* settings)")
    if settings.storage_file_prefix:
        config["fileNamePrefix"] = list(settings.storage_file_prefix)
    if settings.storage_sts_token is not None:
        if settings.storage_vendor not in STS_VENDORS:
            raise InvalidRequest(
                "stsToken works only with vendors 1, 2 and 3 (S3, Alibaba, Tencent)"
            )
        config["stsToken"] = settings.storage_sts_token.reveal()
        if settings.storage_sts_expiration is not None:
            config["stsExpiration"] = settings.storage_sts_expiration
    params = dict(settings.storage_extension_params)
    if settings.storage_vendor == S3_COMPATIBLE and "endpoint" not in params:
        raise InvalidRequest("vendor 11 (S3-compatible) needs extensionParams endpoint")
    if params:
        config["extensionParams"] = params
    return config


def start_body(
    settings: Settings,
    cname: str,
    uid: str,
    uids: Sequence[str] | None,
    max_idle_time: int,
    token: str | None,
) -> dict[str, Any]:
    recording_config: dict[str, Any] = {
        "channelType": settings.agora_channel_type,
        "streamTypes": 0,
        "maxIdleTime": max_idle_time,
        "subscribeAudioUids": list(uids) if uids else [ALL_STREAMS],
        "subscribeUidGroup": subscribe_uid_group(len(uids) if uids else None),
    }
    if settings.agora_recording_mode == "individual":
        recording_config["streamMode"] = "original"  # v2 ("raw") has no streamMode
    client_request: dict[str, Any] = {
        "recordingConfig": recording_config,
        "recordingFileConfig": {"avFileType": ["hls"]},
        "storageConfig": storage_config(settings),
    }
    if token:
        client_request["token"] = token
    return {"cname": cname, "uid": uid, "clientRequest": client_request}


def update_body(
    cname: str, uid: str, subscribe: Sequence[str] | None, unsubscribe: Sequence[str] | None
) -> dict[str, Any]:
    if (subscribe is None) == (unsubscribe is None):
        raise InvalidRequest("give either subscribe or unsubscribe uids, not both")
    audio = (
        {"subscribeAudioUids": list(subscribe)}
        if subscribe is not None
        else {"unSubscribeAudioUids": list(unsubscribe or [])}  # capital S: §0.3
    )
    listed = audio.get("subscribeAudioUids") or audio.get("unSubscribeAudioUids") or []
    if len(listed) > MAX_SUBSCRIBED_UIDS:
        raise InvalidRequest(f"at most {MAX_SUBSCRIBED_UIDS} uids per list")
    return {
        "cname": cname,
        "uid": uid,
        "clientRequest": {"streamSubscribe": {"audioUidList": audio}},
    }


def stop_body(cname: str, uid: str) -> dict[str, Any]:
    return {"cname": cname, "uid": uid, "clientRequest": {"async_stop": False}}
