"""Replacement plan (HTML and CSV) and the forecast scatter pages of a bank or a site.

Every lookup goes through ``for_user``: another site's plan, bank or site is a 404.
"""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from forecasting.plan import CSV_HEADER, WINDOWS, csv_row, plan_rows
from sites.models import Bank, Site


def _csv(rows: list, name: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_row(r) for r in rows)
    return response


def _render_plan(request: HttpRequest, sites: list[Site], site: Site | None) -> HttpResponse:
    today = timezone.now().date()
    rows = plan_rows([s.pk for s in sites], today)
    if request.GET.get("format") == "csv":
        return _csv(rows, f"replacement-plan-{site.slug if site else 'fleet'}-{today}.csv")
    groups = [(label, [r for r in rows if r.window == label]) for label, _, _ in WINDOWS]
    context = {"sites": sites, "site": site, "groups": groups, "today": today, "rows": rows}
    return render(request, "forecasting/plan.html", context)


@login_required
@require_GET
def plan(request: HttpRequest) -> HttpResponse:
    """Replacement plan of every site the user may see (``?format=csv`` for the CSV)."""
    return _render_plan(request, list(Site.objects.for_user(request.user)), None)


@login_required
@require_GET
def site_plan(request: HttpRequest, slug: str) -> HttpResponse:
    """Replacement plan of one site (404 when the user may not see it)."""
    site = get_object_or_404(Site.objects.for_user(request.user), slug=slug)
    return _render_plan(request, [site], site)


@login_required
@require_GET
def bank_scatter(request: HttpRequest, pk: int) -> HttpResponse:
    """Forecast scatter chart of one bank (Dash app ``forecast_scatter``)."""
    bank = get_object_or_404(Bank.objects.for_user(request.user).select_related("site"), pk=pk)
    return render(request, "forecasting/scatter.html", {"bank": bank, "site": bank.site})


@login_required
@require_GET
def site_scatter(request: HttpRequest, slug: str) -> HttpResponse:
    """Forecast scatter chart of every bank of a site."""
    site = get_object_or_404(Site.objects.for_user(request.user), slug=slug)
    return render(request, "forecasting/scatter.html", {"bank": None, "site": site})
