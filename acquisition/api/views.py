"""Read endpoints for readings and latest values (DRF, scoped: other sites' objects are 404).

Deliberately small; cursor pagination and CSV negotiation come later. Long ranges should use
``interval=hour|day`` (rollups); ``raw`` answers at most ``RAW_LIMIT`` rows and says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from acquisition.models import DailyRollup, HourlyRollup
from acquisition.query import (
    ParamError,
    parse_id,
    parse_interval,
    parse_parameters,
    parse_range,
    raw_readings,
    real,
)
from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS
from sites.choices import BatteryStatus
from sites.models import Bank, Battery, Gateway, Site

RAW_LIMIT = 10_000

_RANGE_PARAMS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601; default: end - 1 day"),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601; default: now"),
    OpenApiParameter(
        "parameters", OpenApiTypes.STR, description="comma-separated, e.g. voltage,dcr"
    ),
    OpenApiParameter(
        "interval", OpenApiTypes.STR, enum=["raw", "hour", "day"], description="default raw"
    ),
]


def _bad(exc: ParamError) -> Response:
    return Response({"error": str(exc)}, status=400)


def _raw_results(rows: list[tuple[Any, ...]], parameters: list[str]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item: dict[str, Any] = {"ts": row[0]}
        for name, value in zip(parameters, row[1:], strict=True):
            item[name] = value if name == "status" else real(value)
        out.append(item)
    return out


class BatteryReadingsView(APIView):
    """``GET batteries/{id}/readings/?start=&end=&parameters=voltage,dcr&interval=raw|hour|day``"""

    @extend_schema(parameters=_RANGE_PARAMS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, pk: int) -> Response:
        battery = get_object_or_404(Battery.objects.for_user(request.user), pk=pk)
        try:
            start, end = parse_range(request.query_params)
            interval = parse_interval(request.query_params)
            allowed = (*BMU_PARAMETERS, "status") if interval == "raw" else BMU_PARAMETERS
            parameters = parse_parameters(request.query_params, allowed)
        except ParamError as exc:
            return _bad(exc)
        body: dict[str, Any] = {
            "battery": battery.pk,
            "interval": interval,
            "start": start,
            "end": end,
            "parameters": parameters,
        }
        if interval == "raw":
            rows = raw_readings("battery", battery.pk, start, end, parameters, limit=RAW_LIMIT + 1)
            body["truncated"] = len(rows) > RAW_LIMIT
            body["results"] = _raw_results(rows[:RAW_LIMIT], parameters)
            return Response(body)
        model = HourlyRollup if interval == "hour" else DailyRollup
        first = start.replace(minute=0, second=0, microsecond=0)
        if interval == "day":
            first = first.replace(hour=0)
        buckets = model.objects.filter(
            battery_id=battery.pk, bucket__gte=first, bucket__lt=end
        ).order_by("bucket")
        body["truncated"] = False
        body["results"] = [
            {
                "ts": r.bucket,
                "n": r.n,
                **{
                    p: {s: real(getattr(r, f"{p}_{s}")) for s in ("min", "avg", "max")}
                    for p in parameters
                },
            }
            for r in buckets
        ]
        return Response(body)


class BankReadingsView(APIView):
    """``GET banks/{id}/readings/?start=&end=&parameters=string_voltage,current`` (raw only)."""

    @extend_schema(parameters=_RANGE_PARAMS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, pk: int) -> Response:
        bank = get_object_or_404(Bank.objects.for_user(request.user), pk=pk)
        try:
            start, end = parse_range(request.query_params)
            parameters = parse_parameters(request.query_params, (*CMU_PARAMETERS, "status"))
        except ParamError as exc:
            return _bad(exc)
        rows = raw_readings("bank", bank.pk, start, end, parameters, limit=RAW_LIMIT + 1)
        return Response(
            {
                "bank": bank.pk,
                "interval": "raw",
                "start": start,
                "end": end,
                "parameters": parameters,
                "truncated": len(rows) > RAW_LIMIT,
                "results": _raw_results(rows[:RAW_LIMIT], parameters),
            }
        )


def stale_after(gateway: Gateway | None) -> dt.timedelta:
    """A unit is stale when not reported for a heartbeat plus three scans.

    The agent reports by exception: a steady unit is only re-sent every ``heartbeat_s``, so
    "three scan intervals" alone would call every quiet battery stale.
    """
    if gateway is None:
        return dt.timedelta(seconds=300 + 3 * 10)
    return dt.timedelta(seconds=gateway.heartbeat_s + 3 * gateway.scan_interval_s)


def _latest(obj: Battery | Bank, params: tuple[str, ...], now: dt.datetime) -> dict[str, Any]:
    latest = getattr(obj, "latest_reading", None)
    gateway = obj.bus.gateway if obj.bus is not None else None
    ts = latest.ts if latest else None
    item: dict[str, Any] = {"ts": ts}
    for name in params:
        item[name] = real(getattr(latest, name)) if latest else None
    item["status"] = latest.status if latest else None
    item["stale"] = ts is None or now - ts > stale_after(gateway)
    return item


class LatestView(APIView):
    """``GET latest/?site=ID`` or ``?bank=ID``: the newest values of every unit, with ``stale``."""

    @extend_schema(
        parameters=[
            OpenApiParameter("site", OpenApiTypes.INT, description="one site's batteries"),
            OpenApiParameter("bank", OpenApiTypes.INT, description="one bank's batteries"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        try:
            site_id = parse_id(request.query_params, "site")
            bank_id = parse_id(request.query_params, "bank")
        except ParamError as exc:
            return _bad(exc)
        if (site_id is None) == (bank_id is None):
            return _bad(ParamError("site / bank: give exactly one of them"))
        banks = Bank.objects.for_user(request.user)
        if bank_id is not None:
            banks = banks.filter(pk=get_object_or_404(banks, pk=bank_id).pk)
        else:
            site = get_object_or_404(Site.objects.for_user(request.user), pk=site_id)
            banks = banks.filter(site=site)
        batteries = (
            Battery.objects.filter(status=BatteryStatus.IN_SERVICE)
            .select_related("latest_reading", "bus__gateway")
            .order_by("position")
        )
        banks = (
            banks.select_related("latest_reading", "bus__gateway")
            .prefetch_related(Prefetch("batteries", queryset=batteries))
            .order_by("name")
        )
        now = dt.datetime.now(dt.UTC)
        out = []
        for bank in banks:
            out.append(
                {
                    "bank": bank.pk,
                    "name": bank.name,
                    **_latest(bank, CMU_PARAMETERS, now),
                    "batteries": [
                        {"battery": b.pk, "position": b.position, **_latest(b, BMU_PARAMETERS, now)}
                        for b in bank.batteries.all()
                    ],
                }
            )
        return Response({"banks": out})
