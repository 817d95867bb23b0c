"""Read endpoints of the fleet. Querysets are scoped per request: other sites' objects are 404."""

from rest_framework import viewsets

from sites.api.serializers import (
    BankSerializer,
    BatteryModelSerializer,
    BatterySerializer,
    SiteSerializer,
)
from sites.filtersets import BankFilterSet, BatteryFilterSet, BatteryModelFilterSet, SiteFilterSet
from sites.models import Bank, Battery, BatteryModel, Site


class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    """Sites the caller may see."""

    serializer_class = SiteSerializer
    filterset_class = SiteFilterSet
    search_fields = ["name", "slug", "address"]
    ordering_fields = ["name", "slug"]

    def get_queryset(self):
        return Site.objects.for_user(self.request.user).order_by("name")


class BankViewSet(viewsets.ReadOnlyModelViewSet):
    """Battery strings of the sites the caller may see."""

    serializer_class = BankSerializer
    filterset_class = BankFilterSet
    ordering_fields = ["name", "site"]

    def get_queryset(self):
        return Bank.objects.for_user(self.request.user).select_related("site").order_by("id")


class BatteryViewSet(viewsets.ReadOnlyModelViewSet):
    """Batteries of the sites the caller may see."""

    serializer_class = BatterySerializer
    filterset_class = BatteryFilterSet
    search_fields = ["serial"]
    ordering_fields = ["position", "bank", "install_date"]

    def get_queryset(self):
        return (
            Battery.objects.for_user(self.request.user)
            .select_related("bank", "model")
            .order_by("bank_id", "position", "id")
        )


class BatteryModelViewSet(viewsets.ReadOnlyModelViewSet):
    """The battery model catalogue (not site-specific: every signed-in user may read it)."""

    serializer_class = BatteryModelSerializer
    filterset_class = BatteryModelFilterSet
    queryset = BatteryModel.objects.order_by("manufacturer", "model")
