"""JSON request bodies of the ops API: the NCS endpoint's depth limit, never a RecursionError.

Python's json module raises RecursionError (a 500) on a body a few thousand levels deep;
here every body deeper than the NCS limit is a ValueError, which Flask's ``get_json``
turns into "not JSON" (``silent=True``: None, else a 400).
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from webhook.events import MAX_DEPTH, depth


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
        if depth(value) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        return value
