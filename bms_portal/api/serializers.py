"""Personal API tokens as the API shows them: the key only once (``NewTokenSerializer``)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from rest_framework import serializers

from bms_portal.models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "active",
        ]
        read_only_fields = fields


class CreateTokenSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What the token is for.")
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Optional; in the future."
    )

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("give the token a name")
        return value

    def validate_expires_at(self, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value


class NewTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The key, shown this once only.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields
