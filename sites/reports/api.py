"""On-demand reports through the API: the portal's PDF or CSV (``sites.reports``).

``GET /api/v1/reports/site/{id}/?period=weekly&date=2026-11-23&format=pdf|csv``: one site; a site
the caller may not see is a 404; every role that sees the site may download its report.
``GET /api/v1/reports/fleet/?period=monthly&format=csv``: every site the caller may see (the
fleet report the portal offers as "All sites I may see"), in the portal's time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from acquisition.api.renderers import CSVRenderer
from sites.models import Site
from sites.reports import actions
from sites.reports import render as report_render
from sites.reports.choices import PeriodKind

#: Report dates outside this range are refused (no data, and the calendar arithmetic must fit).
EARLIEST = dt.date(2000, 1, 1)


class PDFRenderer(BaseRenderer):
    """Only makes content negotiation offer ``application/pdf``; the view renders the PDF."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        raise NotImplementedError("the report view renders its PDF itself")


class ReportQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=PeriodKind.choices, default=PeriodKind.WEEKLY)
    date = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Any day of the period; empty: the last complete period.",
    )

    def validate_date(self, value: dt.date | None) -> dt.date | None:
        if value is not None and not EARLIEST <= value <= timezone.localdate() + dt.timedelta(
            days=366
        ):
            raise serializers.ValidationError("out of range")
        return value


def _report_schema(summary: str, description: str) -> Any:
    """The OpenAPI description of a report download: the query, ``format``, PDF or CSV."""
    return extend_schema(
        summary=summary,
        description=description,
        parameters=[
            ReportQuerySerializer,
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["pdf", "csv"], description="Default `pdf`."
            ),
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV"),
        },
    )


class ReportView(generics.GenericAPIView):
    """PDF or CSV downloads whose errors are the API's usual JSON (``{"error", "detail"}``)."""

    renderer_classes = [PDFRenderer, CSVRenderer]
    filter_backends: list[Any] = []
    pagination_class = None
    serializer_class = ReportQuerySerializer

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # a 400/404 (or an unknown ?format=) is not a PDF: answer it as JSON like every endpoint
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SiteReportView(ReportView):
    """The report of one site for one period, as a PDF (default) or CSV download."""

    def get_queryset(self) -> QuerySet[Site]:
        return Site.objects.for_user(self.request.user)

    @_report_schema(
        "Report of a site (PDF or CSV)",
        "Health summary, alarms of the period, batteries out of threshold, DCR drift, forecasts "
        "and replacement plan, data availability. 404 for a site the caller may not see.",
    )
    def get(self, request: Request, id: int) -> HttpResponse:
        site = get_object_or_404(self.get_queryset(), pk=id)
        return _report_response(request, site)


def _report_response(request: Request, site: Site | None) -> HttpResponse:
    """Validate the query, build the site's (or the caller's fleet) report, render it."""
    query = ReportQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    now = timezone.now()
    tz = site.tz if site is not None else actions.fleet_tz()
    period = actions.period_for(
        query.validated_data["period"], tz, query.validated_data["date"], now
    )
    report = actions.build_report(request.user, site, period, now)
    fmt = request.accepted_renderer.format
    if fmt == "csv":
        response = HttpResponse(report_render.csv_text(report), content_type="text/csv")
    else:
        response = HttpResponse(report_render.pdf(report), content_type="application/pdf")
    name = report_render.filename(report, fmt)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class FleetReportView(ReportView):
    """The report of every site the caller may see, for one period, as a PDF or CSV download."""

    @_report_schema(
        "Fleet report of every site the caller may see (PDF or CSV)",
        "The site report's sections over every site the caller may see (only those), periods "
        "in the portal's time zone. A caller who sees no site gets a report that says so.",
    )
    def get(self, request: Request) -> HttpResponse:
        return _report_response(request, None)
