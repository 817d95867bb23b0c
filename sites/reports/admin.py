"""Admin of report subscriptions and deliveries (imported from ``sites/admin.py``).

Subscriptions belong to users, not sites, so these pages are for superusers; a failed delivery
shows its error and attempt log here, and "Send again" re-queues it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from sites.reports.choices import DeliveryStatus
from sites.reports.models import ReportDelivery, ReportSubscription


class SuperuserOnly(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(SuperuserOnly):
    list_display = ["user", "site", "period", "send_pdf", "send_csv", "active", "next_run"]
    list_filter = ["period", "active"]
    search_fields = ["user__username", "user__email", "site__name"]
    autocomplete_fields = ["user", "site"]


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(SuperuserOnly):
    list_display = ["subscription", "period_start", "target", "status", "attempts", "sent_at"]
    list_filter = ["status"]
    search_fields = ["target", "error"]
    readonly_fields = [f.name for f in ReportDelivery._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send again (as a new attempt)")
    def send_again(self, request: HttpRequest, queryset: QuerySet[ReportDelivery]) -> None:
        n = queryset.update(status=DeliveryStatus.RETRY, next_attempt_at=timezone.now())
        messages.info(request, f"{n} delivery(ies) will be retried by the next beat run.")
