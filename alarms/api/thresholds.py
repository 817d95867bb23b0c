"""Threshold overrides (scoped edit) and a battery's effective thresholds with their source.

Visible rows: overrides at the site, bank or battery level of the sites the caller may see; the
chemistry and battery-model rows (fleet-wide defaults) for admins only. Changing a row needs the
manager role on its site (viewers: 403; other sites: 404). Every change is audited.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from alarms.choices import RuleKind, ThresholdLevel
from alarms.models import Threshold
from alarms.thresholds import effective_thresholds
from bms_portal import audit
from bms_portal.choices import AuditAction
from sites.models import Bank, Battery, Site

_LEVEL_FIELDS = ("chemistry", "battery_model", "site", "bank", "battery")
_VALUE_FIELDS = ("enabled", "limit", "limit2", "hysteresis", "delay_s", "note")


def _finite(value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise serializers.ValidationError("must be a finite number")


class ThresholdSerializer(serializers.ModelSerializer):
    level = serializers.ChoiceField(
        choices=ThresholdLevel.choices,
        read_only=True,
        help_text="The one level this override is set at.",
    )
    limit = serializers.FloatField(required=False, allow_null=True, validators=[_finite])
    limit2 = serializers.FloatField(required=False, allow_null=True, validators=[_finite])
    hysteresis = serializers.FloatField(required=False, allow_null=True, validators=[_finite])

    class Meta:
        model = Threshold
        fields = [
            "id",
            "kind",
            "severity",
            "level",
            *_LEVEL_FIELDS,
            *_VALUE_FIELDS,
            "updated_at",
        ]
        read_only_fields = ["id", "level", "updated_at"]
        validators: list[Any] = []  # the model's constraints are checked in validate()

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is not None and not user.is_superuser:
            # objects of other sites do not exist for the caller (400, never 403)
            fields["site"].queryset = Site.objects.for_user(user)
            fields["bank"].queryset = Bank.objects.for_user(user)
            fields["battery"].queryset = Battery.objects.for_user(user)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        obj = Threshold(pk=self.instance.pk) if self.instance is not None else Threshold()
        if self.instance is not None:
            obj._state.adding = False  # the row itself is not a duplicate of its primary key
            for name in ("kind", "severity", *_LEVEL_FIELDS, *_VALUE_FIELDS):
                setattr(obj, name, getattr(self.instance, name))
        for name, value in attrs.items():
            setattr(obj, name, "" if name == "chemistry" and value is None else value)
        try:
            obj.full_clean(exclude=["updated_at"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


def _may_change(user: Any, obj: Threshold) -> bool:
    """Admins everything; managers the site, bank and battery rows of the sites they manage."""
    if user.is_superuser:
        return True
    if obj.chemistry or obj.battery_model_id:
        return False
    if obj.site_id:
        site_id = obj.site_id
    elif obj.bank_id:
        site_id = obj.bank.site_id
    elif obj.battery_id:
        site_id = obj.battery.bank.site_id
    else:
        return False
    return Site.objects.managed_by(user).filter(pk=site_id).exists()


@extend_schema_view(
    list=extend_schema(
        summary="List threshold overrides",
        description="Site, bank and battery overrides of visible sites; chemistry and battery "
        "model defaults for admins only.",
    ),
    retrieve=extend_schema(summary="One threshold override"),
    create=extend_schema(
        summary="Create a threshold override",
        description="Set exactly one level. Managers: site, bank or battery of a site they "
        "manage (viewers 403); chemistry and battery-model defaults: admins.",
    ),
    update=extend_schema(summary="Replace a threshold override"),
    partial_update=extend_schema(summary="Change a threshold override"),
    destroy=extend_schema(summary="Delete a threshold override (back to the inherited value)"),
)
class ThresholdViewSet(viewsets.ModelViewSet):
    """Threshold overrides; empty fields are inherited from the level below."""

    serializer_class = ThresholdSerializer
    filterset_fields = ["kind", "severity", "site", "bank", "battery"]
    ordering_fields = ["kind", "severity", "updated_at"]

    def get_queryset(self) -> QuerySet[Threshold]:
        return (
            Threshold.objects.for_user(self.request.user)
            .select_related("bank", "battery__bank")
            .order_by("kind", "severity", "id")
        )

    def _check(self, obj: Threshold) -> None:
        if not _may_change(self.request.user, obj):
            raise PermissionDenied("Only managers of this site (admins for fleet-wide defaults).")

    def perform_create(self, serializer: Any) -> None:
        self._check(Threshold(**serializer.validated_data))
        obj = serializer.save()
        audit.record(
            obj,
            AuditAction.CREATE,
            after=audit.snapshot(obj),
            request=self.request,
            source="api",
        )

    def check_object_permissions(self, request: Request, obj: Threshold) -> None:
        """Visible (else 404 before this); changing it needs the manager role (else 403)."""
        super().check_object_permissions(request, obj)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            self._check(obj)

    def perform_update(self, serializer: Any) -> None:
        merged = Threshold(
            **{n: getattr(serializer.instance, n) for n in _LEVEL_FIELDS},
        )
        for name in _LEVEL_FIELDS:
            if name in serializer.validated_data:
                setattr(merged, name, serializer.validated_data[name])
        self._check(merged)
        with audit.tracking(serializer.instance, request=self.request, source="api"):
            serializer.save()

    def perform_destroy(self, instance: Threshold) -> None:
        with audit.tracking(instance, request=self.request, source="api"):
            instance.delete()


class EffectiveThresholdSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    label = serializers.CharField()
    scope = serializers.CharField(help_text="`battery` or `bank` (string rules).")
    severity = serializers.CharField()
    enabled = serializers.BooleanField()
    limit = serializers.FloatField(allow_null=True, help_text="Normalised (per cell, mA/Ah).")
    limit2 = serializers.FloatField(allow_null=True)
    hysteresis = serializers.FloatField()
    delay_s = serializers.IntegerField()
    unit = serializers.CharField()
    abs_limit = serializers.FloatField(allow_null=True, help_text="In the object's unit.")
    abs_limit2 = serializers.FloatField(allow_null=True)
    abs_unit = serializers.CharField()
    source = serializers.CharField(help_text="Where the limit comes from.")
    sources = serializers.DictField(
        child=serializers.CharField(), help_text="Per field, the level it comes from."
    )


class BatteryThresholdsView(generics.GenericAPIView):
    """Effective thresholds of one battery (and of its bank's string rules)."""

    serializer_class = EffectiveThresholdSerializer
    filter_backends: list[Any] = []
    pagination_class = None

    def get_queryset(self) -> QuerySet[Battery]:
        return Battery.objects.for_user(self.request.user).select_related(
            "bank__site", "bank__battery_model", "model"
        )

    @extend_schema(
        summary="Effective thresholds of a battery",
        description="Every rule that applies, its value after inheritance (built-in -> chemistry "
        "-> battery model -> site -> bank -> battery) and where each field comes from. 404 for "
        "another site's battery.",
        responses=EffectiveThresholdSerializer(many=True),
    )
    def get(self, request: Request, id: int) -> Response:
        battery = get_object_or_404(self.get_queryset(), pk=id)
        rows = effective_thresholds(battery)
        return Response(EffectiveThresholdSerializer(rows, many=True).data)
