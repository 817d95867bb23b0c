"""``/api/v1/tokens/``: the caller's own personal API tokens (others' tokens are 404)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from bms_portal.api import tokens
from bms_portal.api.serializers import (
    ApiTokenSerializer,
    CreateTokenSerializer,
    NewTokenSerializer,
)
from bms_portal.models import ApiToken

_TOKEN_EXAMPLE = {
    "id": 7,
    "name": "BMS export",
    "prefix": "bmsp_Xy12ab",
    "created_at": "2026-11-24T08:00:00Z",
    "last_used_at": "2026-11-24T09:12:00Z",
    "expires_at": None,
    "revoked_at": None,
    "active": True,
}


@extend_schema_view(
    list=extend_schema(
        summary="List your API tokens",
        description="Your personal API tokens, newest first (revoked and expired ones included).",
        examples=[OpenApiExample("a token", value=[_TOKEN_EXAMPLE], response_only=True)],
    ),
    retrieve=extend_schema(summary="One of your API tokens"),
)
class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Personal API tokens of the caller. Keys are shown once, when created."""

    serializer_class = ApiTokenSerializer
    filterset_class = None
    ordering_fields = ["created_at", "name"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user_id=self.request.user.pk).order_by("-created_at", "-id")

    @extend_schema(
        summary="Create an API token",
        description=(
            "Creates a token and returns its key, **once**: only its SHA-256 is stored. Only from "
            "a signed-in portal session (a token cannot mint tokens: revoking a leaked key must "
            "be enough)."
        ),
        request=CreateTokenSerializer,
        responses={201: NewTokenSerializer},
        examples=[
            OpenApiExample("request", value={"name": "BMS export"}, request_only=True),
            OpenApiExample(
                "created",
                value={**_TOKEN_EXAMPLE, "last_used_at": None, "key": "bmsp_Xy12ab...43 chars"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if isinstance(request.auth, ApiToken):
            raise PermissionDenied("create tokens from the portal or a signed-in session")
        data = CreateTokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token, key = tokens.create_token(request.user, **data.validated_data)
        except tokens.TokenLimitReached as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        token.key = key  # type: ignore[attr-defined]
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke an API token",
        description="The key stops working at once (401). Revoking again changes nothing.",
        request=None,
        responses=ApiTokenSerializer,
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = self.get_object()
        tokens.revoke_token(token)
        return Response(ApiTokenSerializer(token).data)
