"""Recorded-file names of individual mode (agora-reference §6.1), parsed."""

from __future__ import annotations

import re
from typing import Any

# <sid>_<cname>__uid_s_<uid>__uid_e_<type>.m3u8, possibly under a prefix path, possibly
# "bak<n>_" after a failover, possibly "_<tick>_<index>" when restored from backup.
_NAME = re.compile(
    r"^(?P<bak>bak(?P<bak_n>\d+)_)?.*__uid_s_(?P<uid>[^_]+)__uid_e_(?P<type>[a-z]+)"
    r"(?:_(?P<tick>\d+)_(?P<index>\d+))?\.(?P<ext>m3u8|mpd|ts|webm|mp4)$"
)


def describe(file_name: str) -> dict[str, Any]:
    """What the name says: uid, track, and whether it is a failover or backup copy."""
    base = file_name.rsplit("/", 1)[-1]
    match = _NAME.match(base)
    if match is None:
        return {"uid": None, "trackType": None, "failover_index": None, "backup_restore": None}
    backup = None
    if match["tick"] is not None:
        backup = {"tick": int(match["tick"]), "index": int(match["index"])}
    return {
        "uid": match["uid"],
        "trackType": match["type"],
        "failover_index": int(match["bak_n"]) if match["bak_n"] is not None else None,
        "backup_restore": backup,
    }
