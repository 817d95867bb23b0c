"""Configuration that decides when an alarm is raised: thresholds, maintenance windows, relays.

A ``Threshold`` row overrides, at one level (chemistry, battery model, site, bank or battery), some
fields of the rule ``(kind, severity)``; every field left empty is inherited from the level below,
down to the built-in defaults of ``alarms/thresholds.py``. Values of voltage rules are per *cell*
and currents per *Ah of capacity* (mA/Ah), so one row fits 2 V cells and 12 V blocks alike; the
battery page shows the resulting absolute values.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from alarms.choices import RelayCondition, RuleKind, Severity, ThresholdLevel
from sites.choices import Chemistry
from sites.models import Bank, Battery, BatteryModel, Gateway, Site, SiteScopedQuerySet

_LEVEL_FIELDS = ("battery_model", "site", "bank", "battery")


class ThresholdQuerySet(SiteScopedQuerySet):
    def for_user(self, user: Any) -> ThresholdQuerySet:
        """Site, bank and battery overrides of visible sites; fleet-wide rows for admins only."""
        if user.is_superuser:
            return self
        sites = Site.objects.for_user(user).values("pk")
        return self.filter(
            Q(site__in=sites) | Q(bank__site__in=sites) | Q(battery__bank__site__in=sites)
        )

    def managed_by(self, user: Any) -> ThresholdQuerySet:
        if user.is_superuser:
            return self
        sites = Site.objects.managed_by(user).values("pk")
        return self.filter(
            Q(site__in=sites) | Q(bank__site__in=sites) | Q(battery__bank__site__in=sites)
        )


def _exactly_one_level() -> Q:
    """Exactly one of chemistry / battery_model / site / bank / battery is set."""
    options = []
    for chosen in ("chemistry", *_LEVEL_FIELDS):
        q = ~Q(chemistry="") if chosen == "chemistry" else Q(chemistry="")
        for name in _LEVEL_FIELDS:
            q &= Q(**{f"{name}__isnull": name != chosen})
        options.append(q)
    result = options[0]
    for q in options[1:]:
        result |= q
    return result


class Threshold(models.Model):
    kind = models.CharField(max_length=32, choices=RuleKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    chemistry = models.CharField(max_length=8, choices=Chemistry.choices, blank=True)
    battery_model = models.ForeignKey(
        BatteryModel, on_delete=models.CASCADE, null=True, blank=True, related_name="thresholds"
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="thresholds"
    )
    bank = models.ForeignKey(
        Bank, on_delete=models.CASCADE, null=True, blank=True, related_name="thresholds"
    )
    battery = models.ForeignKey(
        Battery, on_delete=models.CASCADE, null=True, blank=True, related_name="thresholds"
    )
    enabled = models.BooleanField(null=True, blank=True, help_text="Empty: inherited.")
    limit = models.FloatField(
        null=True, blank=True, help_text="The limit (upper bound of a band). Empty: inherited."
    )
    limit2 = models.FloatField(
        null=True,
        blank=True,
        help_text="Second value: lower bound of a band, or the current of the thermal-runaway "
        "rule (mA/Ah). Empty: inherited.",
    )
    hysteresis = models.FloatField(
        null=True, blank=True, help_text="Clear band, in the limit's unit. Empty: inherited."
    )
    delay_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="The condition must hold this long. Empty: inherited."
    )
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ThresholdQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "severity"]
        constraints = [
            models.CheckConstraint(
                name="threshold_exactly_one_level", condition=_exactly_one_level()
            ),
            models.UniqueConstraint(
                fields=["kind", "severity", "chemistry"],
                condition=~Q(chemistry=""),
                name="threshold_unique_chemistry",
            ),
            *[
                models.UniqueConstraint(
                    fields=["kind", "severity", name],
                    condition=Q(**{f"{name}__isnull": False}),
                    name=f"threshold_unique_{name}",
                )
                for name in _LEVEL_FIELDS
            ],
        ]
        # The FK indexes serve evaluate_batch's one query "rows of these models/site/banks/
        # batteries"; chemistry rows are few (a sequential scan of a small table).

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.severity}) at {self.level}"

    @property
    def level(self) -> ThresholdLevel:
        if self.chemistry:
            return ThresholdLevel.CHEMISTRY
        for name in _LEVEL_FIELDS:
            if getattr(self, f"{name}_id") is not None:
                return ThresholdLevel(name)
        return ThresholdLevel.BUILTIN

    def clean(self) -> None:
        chosen = [n for n in _LEVEL_FIELDS if getattr(self, f"{n}_id") is not None]
        if bool(self.chemistry) + len(chosen) != 1:
            raise ValidationError(
                "Choose exactly one level: a chemistry, a battery model, a site, a bank or a "
                "battery."
            )


class MaintenanceWindowQuerySet(SiteScopedQuerySet):
    def current(self, now: Any) -> MaintenanceWindowQuerySet:
        return self.filter(starts_at__lte=now, ends_at__gt=now)


class MaintenanceWindow(models.Model):
    """Planned work on a site (or one bank): no notifications, and optionally no alarms."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="maintenance_windows")
    bank = models.ForeignKey(
        Bank,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="maintenance_windows",
        help_text="Empty: the whole site.",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200)
    suppress_alarms = models.BooleanField(
        default=False,
        help_text="Also hold alarm evaluation (no new alarms, none cleared) during the window.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                name="maintenancewindow_ends_after_start",
                condition=Q(ends_at__gt=models.F("starts_at")),
            )
        ]
        indexes = [
            # evaluate_batch / notifications: "windows of this site open now"
            models.Index(fields=["site", "ends_at"], name="maintenance_site_ends_idx"),
        ]

    def __str__(self) -> str:
        what = self.bank.name if self.bank_id else self.site.name
        return f"{what}: {self.reason} ({self.starts_at:%Y-%m-%d %H:%M} - {self.ends_at:%H:%M})"

    def clean(self) -> None:
        if self.bank_id and self.site_id and self.bank.site_id != self.site_id:
            raise ValidationError({"bank": "The bank belongs to another site."})


class RelayMappingQuerySet(SiteScopedQuerySet):
    site_path = "gateway__site"


class RelayMapping(models.Model):
    """What each of a gateway's four dry-contact relays signals. No row: ``DEFAULT_RELAYS``."""

    DEFAULT_RELAYS = (
        RelayCondition.ANY_CRITICAL,
        RelayCondition.ANY_WARNING,
        RelayCondition.COMM_LOST,
        RelayCondition.THERMAL_RUNAWAY,
    )

    gateway = models.OneToOneField(
        Gateway, on_delete=models.CASCADE, primary_key=True, related_name="relay_mapping"
    )
    relay_1 = models.CharField(
        max_length=20, choices=RelayCondition.choices, default=DEFAULT_RELAYS[0]
    )
    relay_2 = models.CharField(
        max_length=20, choices=RelayCondition.choices, default=DEFAULT_RELAYS[1]
    )
    relay_3 = models.CharField(
        max_length=20, choices=RelayCondition.choices, default=DEFAULT_RELAYS[2]
    )
    relay_4 = models.CharField(
        max_length=20, choices=RelayCondition.choices, default=DEFAULT_RELAYS[3]
    )

    objects = RelayMappingQuerySet.as_manager()

    def __str__(self) -> str:
        return f"relays of {self.gateway}"

    @property
    def conditions(self) -> tuple[str, str, str, str]:
        return (self.relay_1, self.relay_2, self.relay_3, self.relay_4)
