"""Admin for the small acquisition tables. The readings themselves are far too many for the
admin: read them through the API, the pages or the CSV export."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from acquisition.models import DcrMeasurementRequest, IngestRejection, LatestReading
from bms_portal.scoping import SiteScopedAdmin
from sites.models import Battery, Gateway


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LatestReading)
class LatestReadingAdmin(_ReadOnly):
    list_display = ["battery", "ts", "voltage", "temperature", "dcr", "status", "updated"]
    list_select_related = ["battery__bank__site"]
    date_hierarchy = "ts"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = Battery.objects.for_user(request.user).values("pk")
        return super().get_queryset(request).filter(battery__in=visible)


@admin.register(IngestRejection)
class IngestRejectionAdmin(_ReadOnly):
    list_display = ["gateway", "reason", "count", "last_at", "last_detail"]
    list_filter = ["reason"]
    list_select_related = ["gateway__site"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = Gateway.objects.for_user(request.user).values("pk")
        return super().get_queryset(request).filter(gateway__in=visible)


@admin.register(DcrMeasurementRequest)
class DcrMeasurementRequestAdmin(SiteScopedAdmin):
    """A manager requests a DCR measurement; the next ingest reply carries it to the agent."""

    list_display = ["battery", "requested_by", "requested_at", "sent_at"]
    list_select_related = ["battery__bank__site", "requested_by"]
    fields = ["battery", "requested_by", "requested_at", "sent_at"]
    readonly_fields = ["requested_by", "requested_at", "sent_at"]
    raw_id_fields = ["battery"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = Battery.objects.for_user(request.user).values("pk")
        return super().get_queryset(request).filter(battery__in=visible)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.requested_by = request.user
        super().save_model(request, obj, form, change)
