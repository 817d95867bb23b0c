"""CSV export pages: ``/export/readings.csv`` and ``/export/bank-readings.csv``.

Access follows the site memberships (``for_user``): another site's battery, bank or site is a 404,
exactly like the pages and the API.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from acquisition import export
from acquisition.query import ParamError, parse_id, parse_range
from sites.models import Bank, Battery, Site

EXPORT_DEFAULT_SPAN = dt.timedelta(days=7)


def _scope(request: HttpRequest, names: tuple[str, ...]) -> tuple[str, int]:
    given = {}
    for name in names:
        value = parse_id(request.GET, name)
        if value is not None:
            given[name] = value
    if len(given) != 1:
        raise ParamError(f"{' / '.join(names)}: give exactly one of them")
    return next(iter(given.items()))


def _csv_response(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@login_required
def readings_csv(request: HttpRequest) -> HttpResponseBase:
    """BMU readings of one battery, every battery of a bank, or of a site."""
    try:
        kind, pk = _scope(request, ("battery", "bank", "site"))
        start, end = parse_range(request.GET, default_span=EXPORT_DEFAULT_SPAN)
    except ParamError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    batteries = Battery.objects.for_user(request.user).select_related("bank__site")
    if kind == "battery":
        batteries = batteries.filter(pk=get_object_or_404(batteries, pk=pk).pk)
    elif kind == "bank":
        bank = get_object_or_404(Bank.objects.for_user(request.user), pk=pk)
        batteries = batteries.filter(bank=bank)
    else:
        site = get_object_or_404(Site.objects.for_user(request.user), pk=pk)
        batteries = batteries.filter(bank__site=site)
    units = [
        (b.pk, b.bank_id, b.position, b.bank.site.tz)
        for b in batteries.order_by("bank__name", "bank_id", "position", "pk")
    ]
    lines = export.battery_csv(units, start, end)
    return _csv_response(lines, f"readings-{kind}-{pk}-{start:%Y%m%d}-{end:%Y%m%d}.csv")


@require_GET
@login_required
def bank_readings_csv(request: HttpRequest) -> HttpResponseBase:
    """String (CMU) readings of one bank or of every bank of a site."""
    try:
        kind, pk = _scope(request, ("bank", "site"))
        start, end = parse_range(request.GET, default_span=EXPORT_DEFAULT_SPAN)
    except ParamError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    banks = Bank.objects.for_user(request.user).select_related("site")
    if kind == "bank":
        banks = banks.filter(pk=get_object_or_404(banks, pk=pk).pk)
    else:
        banks = banks.filter(site=get_object_or_404(Site.objects.for_user(request.user), pk=pk))
    units = [(k.pk, k.site.tz) for k in banks.order_by("name", "pk")]
    lines = export.bank_csv(units, start, end)
    return _csv_response(lines, f"bank-readings-{kind}-{pk}-{start:%Y%m%d}-{end:%Y%m%d}.csv")
