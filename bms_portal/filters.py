"""Filters shared by the FilterSets of several apps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

#: Times outside these years are refused (as acquisition.query does for the readings API).
YEARS = (1970, 2200)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time with an offset, converted to UTC before it reaches the database.

    PostgreSQL refuses offsets beyond +-15:59 that ISO 8601 allows, so the value is normalised
    here and a clear 400 replaces what would otherwise be a database error.
    """

    def to_python(self, value: Any) -> dt.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            utc = parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError("the time is outside the supported range") from None
        if not YEARS[0] < utc.year < YEARS[1]:
            raise ValidationError(f"the time must fall between {YEARS[0]} and {YEARS[1]}")
        return utc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
