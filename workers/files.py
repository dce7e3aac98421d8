"""Recorded-file names of individual mode (agora-reference §6.1), parsed."""

from __future__ import annotations

import re
from typing import Any

# <sid>_<cname>__uid_s_<uid>__uid_e_<type>.m3u8, possibly under a prefix path, possibly
# "bak<n>_" after a failover, possibly "_<tick>_<index>" when restored from backup; slices
# (.ts, .webm) end "_<utc>" with the slice start as YYYYMMDDhhmmssSSS (agora-reference §6.1).
_NAME = re.compile(
    r"^(?P<bak>bak(?P<bak_n>\d+)_)?.*__uid_s_(?P<uid>[^_]+)__uid_e_(?P<type>[a-z]+)"
    r"(?:_(?P<utc>\d{17})|_(?P<tick>\d+)_(?P<index>\d+))?\.(?P<ext>m3u8|mpd|ts|webm|mp4)$"
)


def describe(file_name: str) -> dict[str, Any]:
    """What the name says: uid, track, and whether it is a failover or backup copy."""
    base = file_name.rsplit("/", 1)[-1]
    match = _NAME.match(base)
    if match is None:
        return {
            "uid": None,
            "trackType": None,
            "failover_index": None,
            "backup_restore": None,
            "slice_utc": None,
        }
    backup = None
    if match["tick"] is not None:
        backup = {"tick": int(match["tick"]), "index": int(match["index"])}
    return {
        "uid": match["uid"],
        "trackType": match["type"],
        "failover_index": int(match["bak_n"]) if match["bak_n"] is not None else None,
        "backup_restore": backup,
        "slice_utc": match["utc"],
    }


def from_answer(server_response: dict[str, Any]) -> list[dict[str, Any]]:
    """The files a ``query`` or ``stop`` answer lists, in either ``fileListMode``: "json"
    (an array of objects) or "string" (one String naming the playlist)."""
    file_list = server_response.get("fileList")
    if isinstance(file_list, list):
        return [f for f in file_list if isinstance(f, dict) and isinstance(f.get("fileName"), str)]
    if isinstance(file_list, str) and file_list:
        return [{"fileName": name} for name in file_list.split(";") if name]
    return []
