"""Forecasts, remaining life and the replacement plan of the batteries the caller may see.

Querysets go through ``Battery.objects.for_user``: another site's rows are never listed and are
404 by id. Read-only for every role.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import django_filters
from django.db.models import F, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from acquisition.api.renderers import CSVRenderer
from forecasting.api.serializers import (
    ForecastSerializer,
    PlanRowSerializer,
    RemainingLifeSerializer,
)
from forecasting.choices import Cause, Parameter
from forecasting.models import Forecast, RemainingLife
from forecasting.plan import CSV_HEADER, WINDOWS, PlanRow, csv_row, window_of
from sites.models import Battery


class _BatteryScopedFilterSet(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="battery__bank__site_id")
    bank = django_filters.NumberFilter(field_name="battery__bank_id")
    battery = django_filters.NumberFilter(field_name="battery_id")


class ForecastFilterSet(_BatteryScopedFilterSet):
    parameter = django_filters.ChoiceFilter(choices=Parameter.choices)

    class Meta:
        model = Forecast
        fields = ["site", "bank", "battery", "parameter"]


class RemainingLifeFilterSet(_BatteryScopedFilterSet):
    cause = django_filters.ChoiceFilter(choices=Cause.choices)

    class Meta:
        model = RemainingLife
        fields = ["site", "bank", "battery", "cause"]


def _visible_batteries(request: Request) -> QuerySet[Battery]:
    return Battery.objects.for_user(request.user).values("pk")


@extend_schema_view(
    list=extend_schema(
        summary="List forecasts",
        description="The latest forecast per battery and parameter (q10/q50/q90 at `horizons` "
        "days after `origin`), batteries of visible sites only.",
    ),
    retrieve=extend_schema(summary="One forecast", description="404 for another site's."),
)
class ForecastViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ForecastSerializer
    filterset_class = ForecastFilterSet
    ordering_fields = ["made_at", "origin", "parameter"]

    def get_queryset(self) -> QuerySet[Forecast]:
        return (
            Forecast.objects.filter(battery__in=_visible_batteries(self.request))
            .select_related("battery__bank", "model")
            .order_by("battery_id", "parameter", "id")
        )


@extend_schema_view(
    list=extend_schema(
        summary="List remaining life",
        description="Latest remaining useful life and diagnosis (cause, evidence) per battery of "
        "the visible sites, soonest replacement first. `id` is the battery's id.",
    ),
    retrieve=extend_schema(
        summary="Remaining life of one battery",
        description="By battery id; 404 for another site's.",
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The battery's id."
            )
        ],
    ),
)
class RemainingLifeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RemainingLifeSerializer
    filterset_class = RemainingLifeFilterSet
    ordering_fields = ["replace_on", "days", "dcr_pct"]

    def get_queryset(self) -> QuerySet[RemainingLife]:
        return (
            RemainingLife.objects.for_user(self.request.user)
            .select_related("battery__bank")
            .order_by(F("replace_on").asc(nulls_last=True), "battery_id")
        )


_MONTHS = {months: days for _, months, days in WINDOWS}


@extend_schema_view(
    list=extend_schema(
        summary="Replacement plan",
        description="Batteries of visible sites predicted to reach replacement (DCR +50 % of "
        "baseline) within `months`, soonest first. `?format=csv` (or `Accept: text/csv`): every "
        "row as one CSV download, no pages.",
        parameters=[
            OpenApiParameter(
                "months", OpenApiTypes.INT, enum=sorted(_MONTHS), description="Default 12."
            ),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
        ],
    ),
)
class ReplacementPlanViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = PlanRowSerializer
    ordering_fields: list[str] = []
    renderer_classes = [JSONRenderer, CSVRenderer]

    class _Filters(_BatteryScopedFilterSet):
        class Meta:
            model = RemainingLife
            fields = ["site", "bank", "battery"]

    filterset_class = _Filters

    def _days(self) -> int:
        raw = self.request.query_params.get("months", "12")
        try:
            return _MONTHS[int(raw)]
        except (ValueError, KeyError):
            raise ValidationError({"months": ["one of 3, 6, 12"]}) from None

    def get_queryset(self) -> QuerySet[RemainingLife]:
        today = timezone.localdate()
        return (
            RemainingLife.objects.for_user(self.request.user)
            .filter(replace_on__lte=today + dt.timedelta(days=self._days()))
            .select_related("battery__bank__site")
            .order_by("replace_on", "battery__bank__site__name", "battery__bank__name", "pk")
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        today = timezone.localdate()
        lives = self.filter_queryset(self.get_queryset())
        if request.accepted_renderer.format == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(CSV_HEADER)
            for life in lives:
                writer.writerow(csv_row(PlanRow(life, window_of(life.replace_on, today) or "")))
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="replacement-plan-{today}.csv"'
            return response
        page = self.paginate_queryset(lives)
        rows = page if page is not None else list(lives)
        for life in rows:
            life.window = window_of(life.replace_on, today) or ""
        data = self.get_serializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)
