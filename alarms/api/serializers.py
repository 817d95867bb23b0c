from __future__ import annotations

from rest_framework import serializers

from alarms.models import Alarm


class AlarmSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    site_slug = serializers.CharField(source="site.slug", read_only=True)
    # null for alarms of a bank or a gateway, and before anyone acknowledged
    battery_position = serializers.IntegerField(
        source="battery.position", read_only=True, default=None, allow_null=True
    )
    battery_serial = serializers.CharField(
        source="battery.serial", read_only=True, default=None, allow_null=True
    )
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Alarm
        fields = [
            "id",
            "kind",
            "kind_label",
            "scope",
            "site",
            "site_slug",
            "bank",
            "battery",
            "battery_position",
            "battery_serial",
            "gateway",
            "severity",
            "state",
            "value",
            "last_value",
            "threshold",
            "unit",
            "threshold_source",
            "raised_at",
            "activated_at",
            "acknowledged_at",
            "acknowledged_by",
            "ack_note",
            "cleared_at",
        ]
        read_only_fields = fields


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
