"""Admin: stored models (read-only metrics), forecasts and remaining life."""

from __future__ import annotations

from django.contrib import admin

from forecasting.models import Forecast, ForecastModel, RemainingLife


@admin.register(ForecastModel)
class ForecastModelAdmin(admin.ModelAdmin):
    list_display = ("parameter", "version", "trained_at", "training_rows", "training_series")
    list_filter = ("parameter",)
    exclude = ("payload",)
    readonly_fields = (
        "parameter",
        "version",
        "trained_at",
        "training_rows",
        "training_series",
        "metrics",
    )


@admin.register(Forecast)
class ForecastAdmin(admin.ModelAdmin):
    list_display = ("battery", "parameter", "origin", "made_at", "model")
    list_filter = ("parameter",)
    raw_id_fields = ("battery", "model")


@admin.register(RemainingLife)
class RemainingLifeAdmin(admin.ModelAdmin):
    list_display = ("battery", "replace_on", "warning_on", "days", "dcr_pct", "cause", "made_at")
    list_filter = ("cause", "beyond_horizon")
    raw_id_fields = ("battery", "model")
