"""One FilterSet per model, shared by the pages and the API."""

import django_filters

from sites.choices import BatteryStatus, Chemistry, UnitType
from sites.models import Bank, Battery, BatteryModel, Gateway, Site


class SiteFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Site
        fields = ["slug"]

    def search(self, queryset, name, value):
        return queryset.filter(name__icontains=value) | queryset.filter(slug__icontains=value)


class BankFilterSet(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="site_id")
    site_slug = django_filters.CharFilter(field_name="site__slug")

    class Meta:
        model = Bank
        fields = ["site", "site_slug", "name"]


class BatteryFilterSet(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="bank__site_id")
    bank = django_filters.NumberFilter(field_name="bank_id")
    status = django_filters.ChoiceFilter(choices=BatteryStatus.choices)
    unit_type = django_filters.ChoiceFilter(field_name="model__unit_type", choices=UnitType.choices)
    chemistry = django_filters.ChoiceFilter(
        field_name="model__chemistry", choices=Chemistry.choices
    )

    class Meta:
        model = Battery
        fields = ["site", "bank", "status", "unit_type", "chemistry", "serial", "position"]


class BatteryModelFilterSet(django_filters.FilterSet):
    chemistry = django_filters.ChoiceFilter(choices=Chemistry.choices)
    unit_type = django_filters.ChoiceFilter(choices=UnitType.choices)

    class Meta:
        model = BatteryModel
        fields = ["manufacturer", "chemistry", "unit_type"]


class GatewayFilterSet(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="site_id")
    site_slug = django_filters.CharFilter(field_name="site__slug")
    revoked = django_filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", exclude=True, label="Token revoked"
    )

    class Meta:
        model = Gateway
        fields = ["site", "site_slug", "name", "revoked"]
