"""Alarm pages: the list (filters), a site's alarms with its relays, detail and acknowledge.

Every lookup goes through ``for_user`` (other sites 404); acknowledging needs ``managed_by``
(viewers 403).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from alarms import actions
from alarms.choices import AlarmState
from alarms.filtersets import AlarmFilterSet
from alarms.models import Alarm, MaintenanceWindow
from alarms.relays import relay_panel
from alarms.status import site_statuses
from alarms.thresholds import effective_thresholds
from sites.models import Battery, Site

PAGE_SIZE = 50


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


def _alarm_page(request: HttpRequest, queryset) -> tuple[AlarmFilterSet, object]:
    filterset = AlarmFilterSet(request.GET, queryset=queryset)
    qs = filterset.qs.select_related("site", "bank", "battery", "gateway", "acknowledged_by")
    page = Paginator(qs.order_by("-raised_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return filterset, page


@login_required
def alarm_list(request: HttpRequest) -> HttpResponse:
    filterset, page = _alarm_page(request, Alarm.objects.for_user(request.user).visible())
    return render(request, "alarms/list.html", {"filter": filterset, "page": page})


@login_required
def site_alarms(request: HttpRequest, slug: str) -> HttpResponse:
    site = get_object_or_404(Site.objects.for_user(request.user), slug=slug)
    filterset, page = _alarm_page(request, Alarm.objects.filter(site=site).visible())
    gateways = [(g, relay_panel(g)) for g in site.gateways.order_by("name")]
    windows = MaintenanceWindow.objects.filter(site=site).select_related("bank")[:10]
    context = {
        "site": site,
        "status": site_statuses([site.pk]).get(site.pk),
        "filter": filterset,
        "page": page,
        "gateways": gateways,
        "windows": windows,
    }
    return render(request, "alarms/site.html", context)


@login_required
def alarm_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(
        Alarm.objects.for_user(request.user)
        .visible()
        .select_related("site", "bank", "battery", "gateway", "acknowledged_by"),
        pk=pk,
    )
    may_ack = (
        alarm.state == AlarmState.ACTIVE
        and Alarm.objects.managed_by(request.user).filter(pk=alarm.pk).exists()
    )
    notifications = alarm.notifications.prefetch_related("attempt_rows").order_by("created_at")
    context = {
        "alarm": alarm,
        "site": alarm.site,
        "may_ack": may_ack,
        "form": AcknowledgeForm(),
        "notifications": notifications,
    }
    return render(request, "alarms/detail.html", context)


@login_required
@require_POST
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alarm = get_object_or_404(Alarm.objects.for_user(request.user).visible(), pk=pk)
    if not Alarm.objects.managed_by(request.user).filter(pk=alarm.pk).exists():
        raise PermissionDenied("Only managers of this site may acknowledge its alarms.")
    form = AcknowledgeForm(request.POST)
    if form.is_valid() and actions.acknowledge(alarm, request.user, form.cleaned_data["note"]):
        messages.success(request, "Alarm acknowledged: reminders stop.")
    else:
        messages.warning(request, f"Not acknowledged: the alarm is {alarm.get_state_display()}.")
    return redirect(alarm.get_absolute_url())


@login_required
def battery_thresholds(request: HttpRequest, pk: int) -> HttpResponse:
    battery = get_object_or_404(
        Battery.objects.for_user(request.user).select_related(
            "bank__site", "bank__battery_model", "model"
        ),
        pk=pk,
    )
    context = {
        "battery": battery,
        "bank": battery.bank,
        "site": battery.bank.site,
        "thresholds": effective_thresholds(battery),
    }
    return render(request, "alarms/thresholds.html", context)
