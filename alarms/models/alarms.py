"""The alarm: one row per occurrence of a condition on one object, kept as history once cleared.

At most one *open* alarm (pending, active or acknowledged) exists per (kind, object): a partial
unique index guarantees it, so two evaluations racing on the same batch insert one row (the loser's
``INSERT ... ON CONFLICT DO NOTHING`` inserts nothing). A condition that comes back after clearing
is a new row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from alarms.choices import (
    OPEN_STATES,
    RAISED_STATES,
    AlarmState,
    RuleKind,
    Scope,
    Severity,
)
from sites.models import Bank, Battery, Gateway, Site, SiteScopedQuerySet


class AlarmQuerySet(SiteScopedQuerySet):
    def open(self) -> AlarmQuerySet:
        return self.filter(state__in=OPEN_STATES)

    def raised(self) -> AlarmQuerySet:
        """Alarms people see as current: active or acknowledged (not pending, not cleared)."""
        return self.filter(state__in=RAISED_STATES)

    def active(self) -> AlarmQuerySet:
        """Raised and not acknowledged yet: these are reminded and escalated."""
        return self.filter(state=AlarmState.ACTIVE)

    def visible(self) -> AlarmQuerySet:
        """Everything but pending rows (a condition still inside its delay is not an alarm yet)."""
        return self.exclude(state=AlarmState.PENDING)


class Alarm(models.Model):
    kind = models.CharField(max_length=32, choices=RuleKind.choices)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    object_id = models.BigIntegerField(help_text="Id of the battery, bank or gateway.")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="alarms")
    bank = models.ForeignKey(
        Bank, on_delete=models.PROTECT, null=True, blank=True, related_name="alarms"
    )
    battery = models.ForeignKey(
        Battery, on_delete=models.PROTECT, null=True, blank=True, related_name="alarms"
    )
    gateway = models.ForeignKey(
        Gateway, on_delete=models.PROTECT, null=True, blank=True, related_name="alarms"
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    state = models.CharField(max_length=12, choices=AlarmState.choices)
    value = models.FloatField(null=True, blank=True, help_text="Value when raised.")
    last_value = models.FloatField(null=True, blank=True, help_text="Value last evaluated.")
    threshold = models.FloatField(null=True, blank=True, help_text="The limit crossed.")
    unit = models.CharField(max_length=12, blank=True)
    threshold_source = models.CharField(max_length=120, blank=True)
    delay_s = models.PositiveIntegerField(default=0)
    raised_at = models.DateTimeField(help_text="When the condition was first seen.")
    activated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acknowledged_alarms",
    )
    ack_note = models.TextField(blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AlarmQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_id"],
                condition=Q(state__in=OPEN_STATES),
                name="alarm_one_open_per_kind_object",
            ),
            models.CheckConstraint(
                name="alarm_object_matches_scope",
                condition=Q(scope=Scope.BATTERY, battery__isnull=False)
                | Q(scope=Scope.BANK, bank__isnull=False, battery__isnull=True)
                | Q(scope=Scope.GATEWAY, gateway__isnull=False, battery__isnull=True),
            ),
        ]
        indexes = [
            # alarm lists of a site, status roll-up and relay_states(): open alarms per site
            models.Index(
                fields=["site", "severity"],
                condition=Q(state__in=RAISED_STATES),
                name="alarm_site_raised_idx",
            ),
            # the periodic sweep: pending alarms whose delay has passed
            models.Index(
                fields=["raised_at"],
                condition=Q(state=AlarmState.PENDING),
                name="alarm_pending_idx",
            ),
            # reminders and escalation: active (unacknowledged) alarms
            models.Index(
                fields=["activated_at"],
                condition=Q(state=AlarmState.ACTIVE),
                name="alarm_active_idx",
            ),
            # history lists: newest first, filtered by site
            models.Index(fields=["site", "-raised_at"], name="alarm_site_history_idx"),
            # battery page: the battery's alarms
            models.Index(fields=["battery", "-raised_at"], name="alarm_battery_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.subject_label} ({self.severity}, {self.state})"

    def get_absolute_url(self) -> str:
        return reverse("alarms:detail", args=[self.pk])

    @property
    def subject_label(self) -> str:
        """Human name of the object: 'Site / String A / #7 (SN123)'."""
        if self.battery_id:
            b = self.battery
            serial = f" ({b.serial})" if b.serial else ""
            return f"{b.bank.site.name} / {b.bank.name} / #{b.position}{serial}"
        if self.bank_id:
            return f"{self.bank.site.name} / {self.bank.name}"
        if self.gateway_id:
            return f"{self.gateway.site.name} / gateway {self.gateway.name}"
        return self.site.name

    @property
    def subject_path(self) -> str:
        """Portal path of the object's page (the e-mail link)."""
        if self.battery_id:
            return f"/batteries/{self.battery_id}/"
        if self.bank_id:
            return f"/banks/{self.bank_id}/"
        return f"/sites/{self.site.slug}/"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES
