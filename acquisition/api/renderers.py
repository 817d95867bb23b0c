"""``text/csv`` for the readings endpoints (``?format=csv`` or ``Accept: text/csv``).

The views stream CSV themselves (``acquisition.export``); this renderer only makes content
negotiation offer CSV. Errors are always JSON (``bms_portal.api.errors``).
"""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import BaseRenderer


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
