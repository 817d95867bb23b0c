"""Stored fleet models, per-battery forecasts and remaining life (docs/forecasting.md, "Wiring").

- :class:`ForecastModel`: one trained LightGBM quantile model per parameter and version, its
  boosters serialised as text (``QuantileForecaster.to_dict()``) and its metrics.
- :class:`Forecast`: the latest q10/q50/q90 path of one battery and parameter.
- :class:`RemainingLife`: the latest replacement date (DCR +50 % of baseline), warning date
  (+20 %) and diagnosis of one battery. ``days`` feeds the alarms' forecast rule.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.utils import timezone

from forecasting.choices import Cause, Parameter
from sites.models import Battery


class ForecastModel(models.Model):
    """One trained fleet model of one parameter; the newest version is the one used."""

    parameter = models.CharField(max_length=16, choices=Parameter.choices)
    version = models.PositiveIntegerField()
    trained_at = models.DateTimeField(default=timezone.now)
    training_rows = models.PositiveIntegerField(default=0)
    training_series = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    payload = models.TextField(help_text="QuantileForecaster.to_dict() as JSON (boosters as text).")

    class Meta:
        ordering = ["parameter", "-version"]
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(
                fields=["parameter", "version"], name="forecastmodel_parameter_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.parameter} v{self.version}"

    @property
    def temperature_coefficient(self) -> float | None:
        """d ln(DCR) / dC this DCR model was trained with (its DCR is at 25 C), or None."""
        value = (self.metrics or {}).get("temperature_coefficient")
        return float(value) if value else None

    def engine_model(self) -> Any:
        """The engine's QuantileForecaster (imports LightGBM: call inside a worker task)."""
        from forecasting.engine.model import QuantileForecaster

        return QuantileForecaster.from_dict(json.loads(self.payload))


class Forecast(models.Model):
    """Latest forecast of one battery and parameter: quantile paths at ``horizons`` days."""

    battery = models.ForeignKey(Battery, on_delete=models.CASCADE, related_name="forecasts")
    parameter = models.CharField(max_length=16, choices=Parameter.choices)
    model = models.ForeignKey(ForecastModel, on_delete=models.CASCADE, related_name="forecasts")
    made_at = models.DateTimeField(default=timezone.now)
    origin = models.DateField(help_text="Last day of data the forecast starts from.")
    baseline = models.FloatField(null=True)
    level = models.FloatField(null=True, help_text="Current level at the origin.")
    horizons = models.JSONField(default=list)
    q10 = models.JSONField(default=list)
    q50 = models.JSONField(default=list)
    q90 = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["battery", "parameter"], name="forecast_battery_parameter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.parameter} of battery {self.battery_id} from {self.origin}"


class RemainingLifeQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> RemainingLifeQuerySet:
        return self.filter(battery__in=Battery.objects.for_user(user).values("pk"))


class RemainingLife(models.Model):
    """Latest remaining useful life and diagnosis of one battery (DCR rule, +50 % replace)."""

    battery = models.OneToOneField(
        Battery, on_delete=models.CASCADE, primary_key=True, related_name="remaining_life"
    )
    model = models.ForeignKey(ForecastModel, on_delete=models.CASCADE, related_name="+")
    made_at = models.DateTimeField(default=timezone.now)
    origin = models.DateField()
    dcr_pct = models.FloatField(null=True, help_text="Current DCR, % of baseline.")
    days = models.FloatField(null=True, help_text="Days from today to replacement; null: beyond.")
    replace_on = models.DateField(null=True, blank=True)
    replace_early = models.DateField(null=True, blank=True)
    replace_late = models.DateField(null=True, blank=True)
    warning_on = models.DateField(null=True, blank=True)
    beyond_horizon = models.BooleanField(default=False, help_text="No crossing within 3 years.")
    cause = models.CharField(max_length=16, choices=Cause.choices, default=Cause.NONE)
    evidence = models.TextField(blank=True)
    contributions = models.JSONField(default=list, blank=True)

    objects = RemainingLifeQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "remaining lives"
        indexes = [models.Index(fields=["replace_on"], name="remaininglife_replace_on_idx")]

    def __str__(self) -> str:
        return f"battery {self.battery_id}: {self.replace_on or 'beyond three years'}"
