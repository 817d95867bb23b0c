"""Fleet pages: fleet -> site -> bank -> battery. Every lookup goes through ``for_user`` (404)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from sites.choices import BatteryStatus
from sites.filtersets import SiteFilterSet
from sites.models import Bank, Battery, BatteryReplacement, Site, role_on

FLEET_PAGE_SIZE = 50


@login_required
def fleet(request: HttpRequest) -> HttpResponse:
    sites = Site.objects.for_user(request.user).annotate(
        bank_count=Count("banks", distinct=True),
        battery_count=Count(
            "banks__batteries",
            filter=Q(banks__batteries__status=BatteryStatus.IN_SERVICE),
            distinct=True,
        ),
    )
    filterset = SiteFilterSet(request.GET, queryset=sites)
    page = Paginator(filterset.qs.order_by("name"), FLEET_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "sites/fleet.html", {"page": page, "filter": filterset})


@login_required
def site_detail(request: HttpRequest, slug: str) -> HttpResponse:
    site = get_object_or_404(Site.objects.for_user(request.user), slug=slug)
    banks = (
        Bank.objects.filter(site=site)
        .select_related("battery_model", "bus")
        .annotate(
            battery_count=Count("batteries", filter=Q(batteries__status=BatteryStatus.IN_SERVICE))
        )
        .order_by("name")
    )
    context = {"site": site, "banks": banks, "role": role_on(request.user, site)}
    return render(request, "sites/site.html", context)


@login_required
def bank_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bank = get_object_or_404(Bank.objects.for_user(request.user).select_related("site"), pk=pk)
    batteries = (
        Battery.objects.in_service().filter(bank=bank).select_related("model").order_by("position")
    )
    return render(
        request, "sites/bank.html", {"site": bank.site, "bank": bank, "batteries": batteries}
    )


@login_required
def battery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    battery = get_object_or_404(
        Battery.objects.for_user(request.user).select_related("bank__site", "model", "bus"), pk=pk
    )
    history = BatteryReplacement.objects.filter(
        bank=battery.bank, position=battery.position
    ).select_related("removed", "installed", "performed_by")
    context = {
        "site": battery.bank.site,
        "bank": battery.bank,
        "battery": battery,
        "history": history,
    }
    return render(request, "sites/battery.html", context)
