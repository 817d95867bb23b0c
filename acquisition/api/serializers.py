"""Response shapes of the readings and latest-values endpoints, for the OpenAPI schema.

The views build plain dicts (fast for thousands of rows); these serializers describe them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from acquisition.query import INTERVALS
from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS


def _value() -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, required=False)


class Stats(serializers.Serializer):
    min = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)


def _row(name: str, parameters: tuple[str, ...], *, bucket: bool) -> type[serializers.Serializer]:
    """A row serializer with one optional field per parameter (only the asked ones are sent)."""
    fields: dict[str, Any] = {
        "ts": serializers.DateTimeField(help_text="Reading time, or start of the bucket (UTC).")
    }
    if bucket:
        fields["n"] = serializers.IntegerField(help_text="Readings in the bucket.")
        fields |= {p: Stats(required=False) for p in parameters}
    else:
        fields |= {p: _value() for p in parameters}
        fields["status"] = serializers.IntegerField(allow_null=True, required=False)
    return type(name, (serializers.Serializer,), fields)


BatteryReadingRow = _row("BatteryReadingRow", BMU_PARAMETERS, bucket=False)
BatteryBucketRow = _row("BatteryBucketRow", BMU_PARAMETERS, bucket=True)
BankReadingRow = _row("BankReadingRow", CMU_PARAMETERS, bucket=False)
BankBucketRow = _row("BankBucketRow", CMU_PARAMETERS, bucket=True)


class _Readings(serializers.Serializer):
    interval = serializers.ChoiceField(choices=INTERVALS)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    parameters = serializers.ListField(child=serializers.CharField())
    next = serializers.URLField(
        allow_null=True, help_text="The next page of raw readings; null on the last page."
    )


class BatteryReadings(_Readings):
    battery = serializers.IntegerField()
    results = PolymorphicProxySerializer(
        component_name="BatteryReadingResult",
        serializers=[BatteryReadingRow, BatteryBucketRow],
        resource_type_field_name=None,
        many=True,
    )


class BankReadings(_Readings):
    bank = serializers.IntegerField()
    results = PolymorphicProxySerializer(
        component_name="BankReadingResult",
        serializers=[BankReadingRow, BankBucketRow],
        resource_type_field_name=None,
        many=True,
    )


def _latest(name: str, parameters: tuple[str, ...], extra: dict[str, Any]) -> type:
    fields: dict[str, Any] = {
        **extra,
        "ts": serializers.DateTimeField(allow_null=True, help_text="Newest reading; null: never."),
        **{p: serializers.FloatField(allow_null=True) for p in parameters},
        "status": serializers.IntegerField(allow_null=True),
        "stale": serializers.BooleanField(
            help_text="Not reported for a heartbeat plus three scans (or never)."
        ),
    }
    return type(name, (serializers.Serializer,), fields)


LatestBattery = _latest(
    "LatestBattery",
    BMU_PARAMETERS,
    {"battery": serializers.IntegerField(), "position": serializers.IntegerField()},
)
LatestBank = _latest(
    "LatestBank",
    CMU_PARAMETERS,
    {
        "bank": serializers.IntegerField(),
        "name": serializers.CharField(),
        "batteries": LatestBattery(many=True),
    },
)


class Latest(serializers.Serializer):
    banks = LatestBank(many=True)
