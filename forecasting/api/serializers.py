from __future__ import annotations

from rest_framework import serializers

from forecasting.models import Forecast, RemainingLife


class ForecastSerializer(serializers.ModelSerializer):
    site = serializers.IntegerField(source="battery.bank.site_id", read_only=True)
    bank = serializers.IntegerField(source="battery.bank_id", read_only=True)
    model_version = serializers.IntegerField(source="model.version", read_only=True)
    horizons = serializers.ListField(
        child=serializers.IntegerField(), help_text="Days after `origin`."
    )
    q10 = serializers.ListField(child=serializers.FloatField(allow_null=True))
    q50 = serializers.ListField(child=serializers.FloatField(allow_null=True))
    q90 = serializers.ListField(child=serializers.FloatField(allow_null=True))

    class Meta:
        model = Forecast
        fields = [
            "id",
            "battery",
            "bank",
            "site",
            "parameter",
            "model_version",
            "made_at",
            "origin",
            "baseline",
            "level",
            "horizons",
            "q10",
            "q50",
            "q90",
        ]
        read_only_fields = fields


class RemainingLifeSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="battery_id", read_only=True, help_text="The battery.")
    site = serializers.IntegerField(source="battery.bank.site_id", read_only=True)
    bank = serializers.IntegerField(source="battery.bank_id", read_only=True)
    position = serializers.IntegerField(source="battery.position", read_only=True)
    serial = serializers.CharField(source="battery.serial", read_only=True)
    cause_label = serializers.CharField(source="get_cause_display", read_only=True)
    contributions = serializers.JSONField(read_only=True)

    class Meta:
        model = RemainingLife
        fields = [
            "id",
            "battery",
            "bank",
            "site",
            "position",
            "serial",
            "made_at",
            "origin",
            "dcr_pct",
            "days",
            "replace_on",
            "replace_early",
            "replace_late",
            "warning_on",
            "beyond_horizon",
            "cause",
            "cause_label",
            "evidence",
            "contributions",
        ]
        read_only_fields = fields


class PlanRowSerializer(RemainingLifeSerializer):
    window = serializers.CharField(
        read_only=True, help_text="First window the replacement falls in: `3 months`, ..."
    )

    class Meta(RemainingLifeSerializer.Meta):
        fields = [*RemainingLifeSerializer.Meta.fields, "window"]
        read_only_fields = fields
