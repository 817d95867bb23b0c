"""Alarm endpoints: list/detail scoped to visible sites (others 404), acknowledge for managers."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from alarms import actions
from alarms.api.serializers import AcknowledgeSerializer, AlarmSerializer
from alarms.filtersets import AlarmFilterSet
from alarms.models import Alarm


class AlarmStateConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "only an active alarm can be acknowledged"


class AlarmViewSet(viewsets.ReadOnlyModelViewSet):
    """Alarms of the sites the caller may see (pending rows, still inside their delay, excluded)."""

    serializer_class = AlarmSerializer
    filterset_class = AlarmFilterSet
    ordering_fields = ["raised_at", "severity", "state"]

    def get_queryset(self):
        return (
            Alarm.objects.for_user(self.request.user)
            .visible()
            .select_related("site", "battery", "acknowledged_by")
            .order_by("-raised_at", "-id")
        )

    @extend_schema(
        request=AcknowledgeSerializer,
        responses={200: AlarmSerializer, 409: OpenApiTypes.OBJECT},
        description="Acknowledge an active alarm (409 if it is already acknowledged or cleared).",
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        """Managers of the alarm's site and admins; viewers get 403 (other sites 404)."""
        alarm = self.get_object()
        if not Alarm.objects.managed_by(request.user).filter(pk=alarm.pk).exists():
            raise PermissionDenied("Only managers of this site may acknowledge its alarms.")
        data = AcknowledgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not actions.acknowledge(alarm, request.user, data.validated_data["note"]):
            raise AlarmStateConflict(
                f"the alarm is {alarm.state}, only an active alarm can be acknowledged"
            )
        return Response(AlarmSerializer(alarm).data)
