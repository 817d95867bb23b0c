"""Fleet pages: fleet -> site -> bank -> battery, plus the site's live table as JSON and CSV.

Every lookup goes through ``for_user`` (another site's object is a 404, never a 403). The pages
render complete HTML; the site dashboard then refreshes its live table from ``site_live_json``
at the scan rate (``static/sites/live.js``), and the bank and battery charts are Dash apps that
re-check access in their callbacks (``sites.dash_apps``).
"""

from __future__ import annotations

import csv
import zoneinfo
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from sites.models import Bank, Battery, BatteryReplacement, Site, role_on
from sites.queries import (
    LIVE_COLUMNS,
    STATUS_CHOICES,
    LiveBattery,
    bank_batteries,
    fleet_rows,
    live_battery,
    live_csv_rows,
    local_time,
    site_live,
)
from sites.status import Level, bank_state, rollup

FLEET_PAGE_SIZE = 50
#: Decimals shown per live-table column (static/sites/live.js formats refreshes the same way).
DIGITS = {"voltage": 3, "temperature": 1, "dcr": 3, "dcr_pct": 1, "micro_voltage": 3, "emf": 3}


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def live_rows_html(rows: list[LiveBattery]) -> SafeString:
    """The live table's rows, built in Python: 254 rows x 10 cells through template tags cost
    more than the rest of the request together."""
    cells = "".join(
        f'<td data-key="{key}" data-value="{{{key}_raw}}">{{{key}}}</td>' for key in DIGITS
    )
    row_format = (
        '<tr data-id="{id}" class="lvl-{level}"><td data-key="bank">{bank}</td>'
        '<td data-key="position" data-value="{position}"><a href="{url}">#{position}</a></td>'
        + cells
        + '<td data-key="level" title="{reason}"><span class="status {level}" '
        'title="status: {level}">{level}</span></td>'
        '<td data-key="ts_local" data-value="{ts_iso}">{ts_local}</td></tr>'
    )
    return format_html_join(
        "\n",
        row_format,
        (
            {
                "id": r.id,
                "level": r.level,
                "bank": r.bank,
                "position": r.position,
                "url": r.url,
                "reason": r.reason,
                "ts_iso": r.ts.isoformat() if r.ts else "",
                "ts_local": r.ts_local or "never",
                **{k: _number(getattr(r, k), d) for k, d in DIGITS.items()},
                **{f"{k}_raw": "" if getattr(r, k) is None else getattr(r, k) for k in DIGITS},
            }
            for r in rows
        ),
    )


@login_required
@require_GET
def fleet(request: HttpRequest) -> HttpResponse:
    """Every visible site with its status; search, status filter, pages of 50 (one query)."""
    search = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    status = status if status in STATUS_CHOICES else ""
    summary = fleet_rows(Site.objects.for_user(request.user), search=search, status=status)
    page = Paginator(summary.rows, FLEET_PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page.object_list:
        row.last_data_local = local_time(row.last_data, zoneinfo.ZoneInfo(row.time_zone))
    base_query = urlencode({k: v for k, v in (("q", search), ("status", status)) if v})
    context = {
        "page": page,
        "summary": summary,
        "search": search,
        "status": status,
        "status_choices": STATUS_CHOICES,
        "base_query": base_query,
        "total": sum(summary.counts.values()),
    }
    return render(request, "sites/fleet.html", context)


def _site_for(request: HttpRequest, slug: str) -> Site:
    return get_object_or_404(Site.objects.for_user(request.user), slug=slug)


@login_required
@require_GET
def site_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Site dashboard: each bank's CMU values and state, the live table of every battery."""
    site = _site_for(request, slug)
    live = site_live(site)
    context = {
        "site": site,
        "live": live,
        "columns": LIVE_COLUMNS,
        "role": role_on(request.user, site),
        "refresh_ms": live.scan_interval_s * 1000,
        "rows_html": live_rows_html(live.batteries),
    }
    return render(request, "sites/site.html", context)


@login_required
@require_GET
def site_live_json(request: HttpRequest, slug: str) -> JsonResponse:
    """The live table and bank values as JSON (what the dashboard polls at the scan rate)."""
    site = _site_for(request, slug)
    live = site_live(site)
    response = JsonResponse(
        {
            "site": site.slug,
            "time_zone": site.time_zone,
            "generated": local_time(timezone.now(), site.tz),
            "level": live.level.label,
            "last_data": live.last_data,
            "scan_interval_s": live.scan_interval_s,
            "banks": [b.as_json() for b in live.banks],
            "batteries": [b.as_json() for b in live.batteries],
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def site_live_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """The live table as CSV (times in the site's time zone, and in UTC)."""
    site = _site_for(request, slug)
    live = site_live(site)
    stamp = timezone.now().astimezone(site.tz).strftime("%Y%m%d-%H%M")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="live-{site.slug}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    csv.writer(response).writerows(live_csv_rows(live))
    return response


@login_required
@require_GET
def bank_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Bank view: the parameter-by-position chart (Dash) and its batteries' latest values."""
    bank = get_object_or_404(
        Bank.objects.for_user(request.user).select_related(
            "site", "latest_reading", "battery_model"
        ),
        pk=pk,
    )
    rows = bank_batteries(bank)
    latest = getattr(bank, "latest_reading", None)
    silent = sum(1 for r in rows if r.level == Level.OFFLINE.label)
    levels = {lv.label: lv for lv in Level}
    level = rollup((levels[r.level] for r in rows), total=len(rows), silent=silent)
    context: dict[str, Any] = {
        "site": bank.site,
        "bank": bank,
        "batteries": rows,
        "level": level.label,
        "latest": latest,
        "state": bank_state(
            latest.current if latest else None,
            bank.battery_model.capacity_ah if bank.battery_model else None,
        ),
        "latest_local": local_time(latest.ts if latest else None, bank.site.tz),
    }
    return render(request, "sites/bank.html", context)


@login_required
@require_GET
def battery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Battery page: record, latest values, history and comparison charts (Dash), forecast."""
    battery = get_object_or_404(
        Battery.objects.for_user(request.user).select_related(
            "bank__site", "model", "bus__gateway", "latest_reading"
        ),
        pk=pk,
    )
    history = BatteryReplacement.objects.filter(
        bank=battery.bank, position=battery.position
    ).select_related("removed", "installed", "performed_by")
    site = battery.bank.site
    live = live_battery(battery, site.tz, timezone.now())
    context = {
        "site": site,
        "bank": battery.bank,
        "battery": battery,
        "history": history,
        "live": live,
        "baseline_set_local": local_time(battery.dcr_baseline_set_at, site.tz),
    }
    return render(request, "sites/battery.html", context)
