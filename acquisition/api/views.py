"""Read endpoints for readings and latest values (DRF, scoped: other sites' objects are 404).

Readings come raw (cursor-paginated: follow ``next``) or downsampled into 5-minute, hourly or
daily buckets (min/avg/max per parameter), as JSON or as CSV (``?format=csv`` or
``Accept: text/csv``; CSV streams the whole range, no pages). docs/api.md has examples.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from acquisition import export
from acquisition.api import serializers as shapes
from acquisition.api.renderers import CSVRenderer, ORJSONRenderer
from acquisition.query import (
    INTERVALS,
    ParamError,
    bucket_json,
    bucket_readings,
    check_bucket_range,
    latest_rows,
    parse_id,
    parse_interval,
    parse_parameters,
    parse_range,
    raw_readings,
)
from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS
from bms_portal.api.pagination import decode_cursor, encode_cursor
from sites.choices import BatteryStatus
from sites.models import Bank, Battery, Gateway, Site

#: Raw readings per page: default and most (``page_size``).
RAW_LIMIT = 10_000
T = TypeVar("T")


def checked(parse: Callable[[], T]) -> T:
    """Run a parser of query parameters; a ``ParamError`` becomes a 400 ``invalid``."""
    try:
        return parse()
    except ParamError as exc:
        raise ValidationError({exc.param: [exc.reason]}) from None


@dataclass(frozen=True, slots=True)
class ReadingsQuery:
    start: dt.datetime
    end: dt.datetime
    interval: str
    parameters: list[str]
    after: dt.datetime | None
    page_size: int

    @classmethod
    def parse(cls, params: Mapping[str, str], kind: str, *, rollups: bool) -> ReadingsQuery:
        """Parse and check the query (``rollups``: hourly/daily buckets need no raw scan)."""
        start, end = parse_range(params)
        interval = parse_interval(params)
        measured = BMU_PARAMETERS if kind == "battery" else CMU_PARAMETERS
        allowed = (*measured, "status") if interval == "raw" else measured
        parameters = parse_parameters(params, allowed)
        if interval != "raw":
            scan = not (rollups and interval in ("hour", "day"))
            check_bucket_range(start, end, interval, scan=scan)
        cursor = params.get("cursor")
        return cls(
            start=start,
            end=end,
            interval=interval,
            parameters=parameters,
            after=decode_cursor(cursor) if cursor else None,
            page_size=parse_page_size(params),
        )


def parse_page_size(params: Mapping[str, str]) -> int:
    raw = params.get("page_size")
    if not raw:
        return RAW_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= RAW_LIMIT:
        raise ParamError(f"page_size: {raw!r} is not a number from 1 to {RAW_LIMIT}")
    return int(raw)


def _raw_results(rows: Sequence[tuple[Any, ...]], parameters: list[str]) -> list[dict[str, Any]]:
    """Rows of ``raw_readings(rounded=True)`` as dicts (values already rounded in SQL)."""
    keys = ("ts", *parameters)
    return [dict(zip(keys, row, strict=True)) for row in rows]


_FORMAT = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv"],
    description="`csv` (or `Accept: text/csv`): the whole range as one CSV download, no pages.",
)


def _readings_params(kind: str) -> list[OpenApiParameter]:
    measured = BMU_PARAMETERS if kind == "battery" else CMU_PARAMETERS
    return [
        OpenApiParameter(
            "start", OpenApiTypes.DATETIME, description="ISO 8601 with offset; default end - 1 day"
        ),
        OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601; default now"),
        OpenApiParameter(
            "parameters",
            {"type": "array", "items": {"type": "string", "enum": [*measured, "status"]}},
            style="form",
            explode=False,
            description="Comma-separated, e.g. `voltage,dcr` (default: all). `status` is raw only.",
        ),
        OpenApiParameter(
            "interval",
            OpenApiTypes.STR,
            enum=list(INTERVALS),
            description=(
                "`raw` (default, paginated), or buckets with min/avg/max: `5min` (ranges up to "
                "31 days), `hour`, `day`. At most 10,000 buckets."
            ),
        ),
        OpenApiParameter(
            "cursor", OpenApiTypes.STR, description="Raw only: opaque, from the `next` link."
        ),
        OpenApiParameter(
            "page_size",
            {"type": "integer", "minimum": 1, "maximum": RAW_LIMIT},
            description=f"Raw only: readings per page (default and most {RAW_LIMIT}).",
        ),
        _FORMAT,
    ]


_BATTERY_EXAMPLES = [
    OpenApiExample(
        "raw",
        value={
            "battery": 42,
            "interval": "raw",
            "start": "2026-11-21T10:00:00Z",
            "end": "2026-11-21T10:15:00Z",
            "parameters": ["voltage", "dcr"],
            "next": None,
            "results": [
                {"ts": "2026-11-21T10:00:00Z", "voltage": 13.51, "dcr": 4.321},
                {"ts": "2026-11-21T10:10:00Z", "voltage": 13.52, "dcr": 4.322},
            ],
        },
        response_only=True,
        media_type="application/json",
    ),
    OpenApiExample(
        "hourly",
        value={
            "battery": 42,
            "interval": "hour",
            "start": "2026-11-21T00:00:00Z",
            "end": "2026-11-22T00:00:00Z",
            "parameters": ["voltage"],
            "next": None,
            "results": [
                {
                    "ts": "2026-11-21T10:00:00Z",
                    "n": 360,
                    "voltage": {"min": 13.5, "avg": 13.52, "max": 13.6},
                }
            ],
        },
        response_only=True,
        media_type="application/json",
    ),
]


class _ReadingsView(APIView):
    """Shared by battery and bank readings: parse, then raw page, buckets, or CSV."""

    renderer_classes = [ORJSONRenderer, CSVRenderer]
    kind = ""
    rollups = False  # hourly and daily buckets come from rollup tables

    def unit(self, request: Request, pk: int) -> tuple[Battery | Bank, zoneinfo.ZoneInfo]:
        raise NotImplementedError

    def csv_lines(self, unit: Any, tz: zoneinfo.ZoneInfo, q: ReadingsQuery) -> Any:
        raise NotImplementedError

    def get(self, request: Request, pk: int) -> Response | StreamingHttpResponse:
        unit, tz = self.unit(request, pk)
        q = checked(
            lambda: ReadingsQuery.parse(request.query_params, self.kind, rollups=self.rollups)
        )
        if request.accepted_renderer.format == "csv":
            return self.csv(unit, tz, q)
        body: dict[str, Any] = {
            self.kind: unit.pk,
            "interval": q.interval,
            "start": q.start,
            "end": q.end,
            "parameters": q.parameters,
            "next": None,
        }
        if q.interval != "raw":
            # The database builds the buckets' JSON (one query, one text value).
            results = bucket_json(self.kind, unit.pk, q.start, q.end, q.parameters, q.interval)
            body["results"] = orjson.Fragment(results)
            return Response(body)
        rows = raw_readings(
            self.kind,
            unit.pk,
            q.start,
            q.end,
            q.parameters,
            after=q.after,
            limit=q.page_size + 1,
            rounded=True,
        )
        if len(rows) > q.page_size:
            rows = rows[: q.page_size]
            url = request.build_absolute_uri()
            body["next"] = replace_query_param(url, "cursor", encode_cursor(rows[-1][0]))
        body["results"] = _raw_results(rows, q.parameters)
        return Response(body)

    def csv(self, unit: Any, tz: zoneinfo.ZoneInfo, q: ReadingsQuery) -> StreamingHttpResponse:
        if q.interval == "raw":
            lines = self.csv_lines(unit, tz, q)
        else:
            rows = bucket_readings(self.kind, unit.pk, q.start, q.end, q.parameters, q.interval)
            lines = export.bucket_csv(f"{self.kind}_id", unit.pk, rows, q.parameters, tz)
        name = f"{self.kind}-{unit.pk}-{q.interval}-{q.start:%Y%m%d}-{q.end:%Y%m%d}.csv"
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


class BatteryReadingsView(_ReadingsView):
    """Readings of one battery: raw (paginated) or downsampled; JSON or CSV."""

    kind = "battery"
    rollups = True

    def unit(self, request: Request, pk: int) -> tuple[Battery, zoneinfo.ZoneInfo]:
        battery = get_object_or_404(
            Battery.objects.for_user(request.user).select_related("bank__site"), pk=pk
        )
        return battery, battery.bank.site.tz

    def csv_lines(self, unit: Any, tz: zoneinfo.ZoneInfo, q: ReadingsQuery) -> Any:
        units = [(unit.pk, unit.bank_id, unit.position, tz)]
        return export.battery_csv(units, q.start, q.end, q.parameters)

    @extend_schema(
        summary="Readings of a battery",
        description=(
            "Raw readings (cursor-paginated: follow `next`) or 5-minute/hourly/daily buckets "
            "with min/avg/max. `?format=csv` streams the whole range as CSV. 404 for a battery "
            "of a site the caller may not see."
        ),
        parameters=_readings_params("battery"),
        responses={
            (200, "application/json"): shapes.BatteryReadings,
            (200, "text/csv"): OpenApiTypes.STR,
        },
        examples=_BATTERY_EXAMPLES,
    )
    def get(self, request: Request, pk: int) -> Response | StreamingHttpResponse:
        return super().get(request, pk)


class BankReadingsView(_ReadingsView):
    """String (CMU) readings of one bank: raw (paginated) or downsampled; JSON or CSV."""

    kind = "bank"

    def unit(self, request: Request, pk: int) -> tuple[Bank, zoneinfo.ZoneInfo]:
        bank = get_object_or_404(Bank.objects.for_user(request.user).select_related("site"), pk=pk)
        return bank, bank.site.tz

    def csv_lines(self, unit: Any, tz: zoneinfo.ZoneInfo, q: ReadingsQuery) -> Any:
        return export.bank_csv([(unit.pk, tz)], q.start, q.end, q.parameters)

    @extend_schema(
        summary="String readings of a bank",
        description=(
            "The bank's CMU readings (string voltage, current, ambient): raw (cursor-paginated) "
            "or buckets aggregated from the raw readings (ranges up to 31 days). 404 for a bank "
            "of a site the caller may not see."
        ),
        parameters=_readings_params("bank"),
        responses={
            (200, "application/json"): shapes.BankReadings,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, pk: int) -> Response | StreamingHttpResponse:
        return super().get(request, pk)


def stale_after(gateway: Gateway | None) -> dt.timedelta:
    """A unit is stale when not reported for a heartbeat plus three scans.

    The agent reports by exception: a steady unit is only re-sent every ``heartbeat_s``, so
    "three scan intervals" alone would call every quiet battery stale.
    """
    if gateway is None:
        return dt.timedelta(seconds=300 + 3 * 10)
    return dt.timedelta(seconds=gateway.heartbeat_s + 3 * gateway.scan_interval_s)


_LATEST_EXAMPLE = {
    "banks": [
        {
            "bank": 3,
            "name": "String A",
            "ts": "2026-11-24T08:00:10Z",
            "string_voltage": 54.1,
            "current": -0.4,
            "ambient": 22.5,
            "status": 0,
            "stale": False,
            "batteries": [
                {
                    "battery": 42,
                    "position": 1,
                    "ts": "2026-11-24T08:00:10Z",
                    "voltage": 13.52,
                    "temperature": 23.1,
                    "dcr": 4.321,
                    "micro_voltage": 13.5,
                    "emf": 13.1,
                    "status": 0,
                    "stale": False,
                }
            ],
        }
    ]
}


class LatestView(APIView):
    """``GET latest/?site=ID`` or ``?bank=ID``: the newest values of every unit, with ``stale``."""

    @extend_schema(
        summary="Latest values",
        description=(
            "The newest reading of every bank (string) and in-service battery of one site or "
            "one bank (give exactly one of `site`, `bank`), each flagged `stale` when it has "
            "not reported for a heartbeat plus three scans. 404 for another site's site or bank."
        ),
        parameters=[
            OpenApiParameter(
                "site", {"type": "integer", "minimum": 1}, description="one site's units"
            ),
            OpenApiParameter(
                "bank", {"type": "integer", "minimum": 1}, description="one bank's units"
            ),
        ],
        responses=shapes.Latest,
        examples=[OpenApiExample("a bank", value=_LATEST_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> HttpResponse:
        site_id = checked(lambda: parse_id(request.query_params, "site"))
        bank_id = checked(lambda: parse_id(request.query_params, "bank"))
        if (site_id is None) == (bank_id is None):
            raise ValidationError({"site": ["give exactly one of site, bank"]})
        banks = Bank.objects.for_user(request.user)
        banks = banks.filter(pk=bank_id) if bank_id is not None else banks.filter(site=site_id)
        # One query (ids of the scoped banks as a subquery), plain tuples, orjson: no model
        # instances, no serializer. The scope is in the subquery: no rows is a bank or site the
        # caller may not see (404), or a visible site without banks (one more query tells).
        bank_sql, bank_params = banks.values("pk").query.sql_with_params()
        rows = latest_rows(
            bank_sql,
            bank_params,
            BatteryStatus.IN_SERVICE,
            stale_after(None).total_seconds(),
        )
        if not rows and (
            bank_id is not None
            or not Site.objects.for_user(request.user).filter(pk=site_id).exists()
        ):
            raise Http404
        bank_keys = ("bank", "name", "ts", *CMU_PARAMETERS, "status", "stale")
        battery_keys = ("battery", "position", "ts", *BMU_PARAMETERS, "status", "stale")
        split = len(bank_keys)
        out: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        for row in rows:
            if row[0] != current.get("bank"):
                current = dict(zip(bank_keys, row[:split], strict=True))
                current["batteries"] = []
                out.append(current)
            if row[split] is not None:
                current["batteries"].append(dict(zip(battery_keys, row[split:], strict=True)))
        return HttpResponse(
            orjson.dumps({"banks": out}, option=orjson.OPT_UTC_Z),
            content_type="application/json",
        )
