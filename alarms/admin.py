"""Admin: alarms (read, acknowledge), thresholds, maintenance windows, relays, contacts, and every
message with its attempts (failed ones filterable, and retried by an action)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from alarms import actions
from alarms.choices import AlarmState, DeliveryStatus
from alarms.models import (
    Alarm,
    MaintenanceWindow,
    Notification,
    NotificationAttempt,
    RelayMapping,
    Subscription,
    Threshold,
)
from bms_portal.audit import AuditedAdminMixin
from bms_portal.scoping import SiteScopedAdmin


@admin.register(Alarm)
class AlarmAdmin(SiteScopedAdmin):
    list_display = ["raised_at", "severity", "state", "kind", "site", "bank", "battery", "value"]
    list_filter = ["state", "severity", "kind", ("site", admin.RelatedOnlyFieldListFilter)]
    date_hierarchy = "raised_at"
    list_select_related = ["site", "bank", "battery"]
    actions = ["acknowledge"]
    readonly_fields = [f.name for f in Alarm._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Acknowledge the selected active alarms")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for alarm in queryset.managed_by(request.user).filter(state=AlarmState.ACTIVE):
            done += actions.acknowledge(alarm, request.user, "acknowledged in the admin")
        self.message_user(request, f"{done} alarm(s) acknowledged.", messages.SUCCESS)


@admin.register(Threshold)
class ThresholdAdmin(AuditedAdminMixin, SiteScopedAdmin):
    list_display = [
        "kind",
        "severity",
        "level",
        "chemistry",
        "battery_model",
        "site",
        "bank",
        "battery",
        "enabled",
        "limit",
        "limit2",
        "hysteresis",
        "delay_s",
    ]
    list_filter = ["kind", "severity", "chemistry"]
    raw_id_fields = ["battery", "bank"]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(AuditedAdminMixin, SiteScopedAdmin):
    list_display = ["site", "bank", "starts_at", "ends_at", "reason", "suppress_alarms"]
    list_filter = [("site", admin.RelatedOnlyFieldListFilter), "suppress_alarms"]

    def save_model(self, request: HttpRequest, obj: MaintenanceWindow, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(RelayMapping)
class RelayMappingAdmin(AuditedAdminMixin, SiteScopedAdmin):
    list_display = ["gateway", "relay_1", "relay_2", "relay_3", "relay_4"]


@admin.register(Subscription)
class SubscriptionAdmin(AuditedAdminMixin, SiteScopedAdmin):
    list_display = ["site", "channel", "target", "role", "min_severity", "active"]
    list_filter = ["channel", "role", "active", ("site", admin.RelatedOnlyFieldListFilter)]
    autocomplete_fields = ["user"]


class AttemptInline(admin.TabularInline):
    model = NotificationAttempt
    extra = 0
    can_delete = False
    readonly_fields = [
        "number",
        "channel",
        "target",
        "status",
        "error",
        "duration_ms",
        "started_at",
    ]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(SiteScopedAdmin):
    list_display = [
        "created_at",
        "site",
        "kind",
        "channel",
        "target",
        "status",
        "attempts",
        "last_error",
    ]
    list_filter = ["status", "channel", "kind", ("site", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["target", "subject"]
    readonly_fields = [f.name for f in Notification._meta.fields if f.name != "id"]
    inlines = [AttemptInline]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry now (a message that failed for good gets one more attempt)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        from alarms.tasks import deliver

        ids = list(queryset.exclude(status=DeliveryStatus.SENT).values_list("pk", flat=True))
        Notification.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.RETRY, next_attempt_at=timezone.now()
        )
        for pk in ids:
            deliver.delay(pk)
        self.message_user(request, f"{len(ids)} message(s) queued again.", messages.SUCCESS)
