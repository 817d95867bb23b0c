"""Pagination of API lists (page numbers) and the opaque time cursor of raw readings."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` and ``?page_size=`` (at most 1000); a page past the end is a 404."""

    page_size_query_param = "page_size"
    max_page_size = 1000


def encode_cursor(after: dt.datetime) -> str:
    """An opaque cursor for "rows after this time" (URL-safe base64 of the ISO time)."""
    raw = after.astimezone(dt.UTC).isoformat().encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dt.datetime:
    """The time of a cursor from ``encode_cursor``; a 400 (``cursor``) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value = dt.datetime.fromisoformat(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError(
            {"cursor": ["not a cursor of this API; use the `next` link"]}
        ) from None
    if value.tzinfo is None:
        raise ValidationError({"cursor": ["not a cursor of this API; use the `next` link"]})
    return value
