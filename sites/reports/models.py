"""Report subscriptions and the record of every report delivery.

Models of the ``sites`` app (imported at the end of ``sites/models.py``). A subscription sends one
user a site's report, or the report of every site the user may see (``site`` empty), each
period. Each period's send is one ``ReportDelivery`` row (unique per subscription and period, so
a scheduler running twice cannot send twice), with its attempts, last error and duration, so a
failed e-mail is visible in the admin and retried, never silently lost.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from sites.reports.choices import DeliveryStatus, PeriodKind


class ReportSubscriptionQuerySet(models.QuerySet):
    def of_user(self, user: Any) -> ReportSubscriptionQuerySet:
        """A user's own subscriptions (the only ones their page shows or changes)."""
        return self.filter(user_id=user.pk) if user.is_authenticated else self.none()


class ReportSubscription(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    site = models.ForeignKey(
        "sites.Site",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="report_subscriptions",
        help_text="Empty: every site the user may see (the fleet report).",
    )
    period = models.CharField(max_length=8, choices=PeriodKind.choices, default=PeriodKind.WEEKLY)
    send_pdf = models.BooleanField("PDF", default=True)
    send_csv = models.BooleanField("CSV", default=True)
    active = models.BooleanField(default=True)
    next_run = models.DateTimeField(help_text="When the next report is due (UTC).")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ReportSubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["user", "site__name", "period"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "site", "period"],
                nulls_distinct=False,
                name="reportsubscription_user_site_period_unique",
            ),
            models.CheckConstraint(
                name="reportsubscription_some_format", condition=Q(send_pdf=True) | Q(send_csv=True)
            ),
        ]
        indexes = [
            # the beat's claim: active subscriptions whose next run has come
            models.Index(
                fields=["next_run"], condition=Q(active=True), name="reportsubscription_due_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_period_display()} report of {self.scope_label} for {self.user}"

    @property
    def scope_label(self) -> str:
        return self.site.name if self.site is not None else "all visible sites"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """Periods count in the site's zone; a fleet report in the portal's (``TIME_ZONE``)."""
        return self.site.tz if self.site is not None else zoneinfo.ZoneInfo(settings.TIME_ZONE)

    @property
    def formats(self) -> list[str]:
        return [f for f, on in (("pdf", self.send_pdf), ("csv", self.send_csv)) if on]


class ReportDelivery(models.Model):
    subscription = models.ForeignKey(
        ReportSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    target = models.CharField(max_length=254, help_text="The e-mail address it went to.")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    error = models.TextField(blank=True, help_text="The last attempt's error.")
    duration_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Last attempt: building the report and sending it."
    )
    attempt_log = models.JSONField(
        default=list, blank=True, help_text="One entry per attempt: time, duration, error."
    )
    size_bytes = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        verbose_name_plural = "report deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="reportdelivery_one_per_period"
            ),
        ]
        indexes = [
            # the retry sweep: deliveries waiting for (another) attempt
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(
                    status__in=[
                        DeliveryStatus.PENDING,
                        DeliveryStatus.RETRY,
                        DeliveryStatus.SENDING,
                    ]
                ),
                name="reportdelivery_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.subscription_id} {self.period_start:%Y-%m-%d} ({self.status})"
