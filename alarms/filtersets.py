"""One FilterSet for alarms, shared by the pages and the API."""

from __future__ import annotations

import django_filters

from alarms.choices import AlarmState, RuleKind, Scope, Severity
from alarms.models import Alarm
from bms_portal.filters import UtcDateTimeFilter


class AlarmFilterSet(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="site_id")
    site_slug = django_filters.CharFilter(field_name="site__slug")
    bank = django_filters.NumberFilter(field_name="bank_id")
    battery = django_filters.NumberFilter(field_name="battery_id")
    state = django_filters.MultipleChoiceFilter(
        choices=[c for c in AlarmState.choices if c[0] != AlarmState.PENDING]
    )
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    kind = django_filters.ChoiceFilter(choices=RuleKind.choices)
    scope = django_filters.ChoiceFilter(choices=Scope.choices)
    since = UtcDateTimeFilter(field_name="raised_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="raised_at", lookup_expr="lt")
    open = django_filters.BooleanFilter(method="filter_open", label="Open (not cleared)")

    class Meta:
        model = Alarm
        fields = ["site", "site_slug", "bank", "battery", "state", "severity", "kind", "scope"]

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.raised() if value else queryset.filter(state=AlarmState.CLEARED)
