"""Renderers of the readings and latest-values endpoints.

``ORJSONRenderer``: ``application/json`` through orjson (UTC times end in ``Z`` like DRF's
encoder; ``orjson.Fragment`` embeds JSON the database built). ``CSVRenderer``: only makes content
negotiation offer ``text/csv``; the views stream CSV themselves (``acquisition.export``). Errors
are always JSON (``bms_portal.api.errors``).
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder

_FALLBACK = JSONEncoder().default  # lazy strings, Decimal, UUID, ... as DRF renders them


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # JSON is UTF-8 by definition (RFC 8259), as DRF's JSONRenderer says

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_FALLBACK, option=orjson.OPT_UTC_Z)


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        raise NotImplementedError("readings views stream their CSV themselves")
