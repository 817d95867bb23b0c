"""The fleet's endpoints. Querysets are scoped per request: other sites' objects are 404.

Gateways are for admins only: everyone else lists none, gets 404 on any gateway and 403 on create
(docs/api.md).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from bms_portal import audit
from bms_portal.choices import AuditAction
from sites import actions
from sites.api.serializers import (
    BankSerializer,
    BatteryModelSerializer,
    BatterySerializer,
    GatewayCreateSerializer,
    GatewaySerializer,
    GatewayTokenSerializer,
    SiteSerializer,
)
from sites.filtersets import (
    BankFilterSet,
    BatteryFilterSet,
    BatteryModelFilterSet,
    GatewayFilterSet,
    SiteFilterSet,
)
from sites.models import Bank, Battery, BatteryModel, Gateway, Site


@extend_schema_view(
    list=extend_schema(summary="List sites", description="Sites the caller may see."),
    retrieve=extend_schema(
        summary="One site", description="404 for a site the caller may not see."
    ),
)
class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    """Sites the caller may see."""

    serializer_class = SiteSerializer
    filterset_class = SiteFilterSet
    search_fields = ["name", "slug", "address"]
    ordering_fields = ["name", "slug"]

    def get_queryset(self) -> QuerySet[Site]:
        return Site.objects.for_user(self.request.user).order_by("name")


@extend_schema_view(
    list=extend_schema(summary="List banks", description="Battery strings of visible sites."),
    retrieve=extend_schema(summary="One bank", description="404 for another site's bank."),
)
class BankViewSet(viewsets.ReadOnlyModelViewSet):
    """Battery strings of the sites the caller may see."""

    serializer_class = BankSerializer
    filterset_class = BankFilterSet
    ordering_fields = ["name", "site"]

    def get_queryset(self) -> QuerySet[Bank]:
        return Bank.objects.for_user(self.request.user).select_related("site").order_by("id")


@extend_schema_view(
    list=extend_schema(summary="List batteries", description="Batteries of visible sites."),
    retrieve=extend_schema(summary="One battery", description="404 for another site's battery."),
)
class BatteryViewSet(viewsets.ReadOnlyModelViewSet):
    """Batteries of the sites the caller may see."""

    serializer_class = BatterySerializer
    filterset_class = BatteryFilterSet
    search_fields = ["serial"]
    ordering_fields = ["position", "bank", "install_date"]

    def get_queryset(self) -> QuerySet[Battery]:
        return (
            Battery.objects.for_user(self.request.user)
            .select_related("bank", "model")
            .order_by("bank_id", "position", "id")
        )


@extend_schema_view(
    list=extend_schema(
        summary="List battery models",
        description="The battery model catalogue (not site-specific: every signed-in user).",
    ),
    retrieve=extend_schema(summary="One battery model"),
)
class BatteryModelViewSet(viewsets.ReadOnlyModelViewSet):
    """The battery model catalogue (not site-specific: every signed-in user may read it)."""

    serializer_class = BatteryModelSerializer
    filterset_class = BatteryModelFilterSet
    queryset = BatteryModel.objects.order_by("manufacturer", "model")


@extend_schema_view(
    list=extend_schema(
        summary="List gateways (admins)",
        description="Every gateway for admins; an empty list for everyone else.",
    ),
    retrieve=extend_schema(summary="One gateway (admins)", description="404 for non-admins."),
)
class GatewayViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Edge gateways and their tokens: admins only (others see none and may create none)."""

    serializer_class = GatewaySerializer
    filterset_class = GatewayFilterSet
    ordering_fields = ["name", "site", "last_seen_at"]

    def get_queryset(self) -> QuerySet[Gateway]:
        gateways = Gateway.objects.select_related("site").order_by("site__name", "name", "id")
        return gateways if self.request.user.is_superuser else gateways.none()

    @extend_schema(
        summary="Create a gateway (admins)",
        description="Returns the gateway with its token, shown this once (only a hash is kept).",
        request=GatewayCreateSerializer,
        responses={201: GatewayTokenSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not request.user.is_superuser:
            raise PermissionDenied("only admins manage gateways")
        data = GatewayCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            gateway, token = actions.create_gateway(
                fields.pop("site"), fields.pop("name"), **fields
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        audit.record(
            gateway,
            AuditAction.CREATE,
            after=audit.snapshot(gateway),
            request=request,
            source="api",
        )
        return Response(_with_token(gateway, token), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rotate a gateway token (admins)",
        description="Issues a new token (shown this once); the old one stops working at once.",
        request=None,
        responses=GatewayTokenSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request: Request, pk: str | None = None) -> Response:
        gateway = self.get_object()
        with audit.tracking(gateway, request=request, source="api"):
            token = actions.rotate_gateway_token(gateway)
        return Response(_with_token(gateway, token))

    @extend_schema(
        summary="Revoke a gateway token (admins)",
        description="The gateway's agent is refused (401) until its token is rotated.",
        request=None,
        responses=GatewaySerializer,
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        gateway = self.get_object()
        with audit.tracking(gateway, request=request, source="api"):
            actions.revoke_gateway_token(gateway)
        gateway.refresh_from_db()
        return Response(GatewaySerializer(gateway).data)


def _with_token(gateway: Gateway, token: str) -> dict[str, Any]:
    gateway.token = token  # type: ignore[attr-defined]
    return GatewayTokenSerializer(gateway).data
