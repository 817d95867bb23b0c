"""Report pages: the user's subscriptions, and on-demand downloads.

Downloads are scoped like every page: a site the user may not see is a 404 (never a 403), and
the fleet report covers ``Site.objects.for_user(user)`` only.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from sites.models import Site
from sites.reports import actions
from sites.reports import render as report_render
from sites.reports.forms import DownloadForm, SubscriptionForm
from sites.reports.models import ReportDelivery, ReportSubscription

RECENT_DELIVERIES = 20


@login_required
def subscriptions(request: HttpRequest) -> HttpResponse:
    """List the user's subscriptions and recent deliveries; POST creates a subscription."""
    form = SubscriptionForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        sub = actions.subscribe(
            request.user,
            site=form.cleaned_data["site"],
            period=form.cleaned_data["period"],
            send_pdf=form.cleaned_data["send_pdf"],
            send_csv=form.cleaned_data["send_csv"],
            now=timezone.now(),
        )
        messages.success(request, f"Subscribed: {sub}. First report on {sub.next_run:%Y-%m-%d}.")
        return redirect("reports:subscriptions")
    subs = ReportSubscription.objects.of_user(request.user).select_related("site")
    deliveries = (
        ReportDelivery.objects.filter(subscription__in=subs)
        .select_related("subscription__site")
        .order_by("-created_at")[:RECENT_DELIVERIES]
    )
    context = {
        "form": form,
        "subscriptions": subs,
        "deliveries": deliveries,
        "download_form": DownloadForm(),
        "sites": Site.objects.for_user(request.user).order_by("name"),
    }
    return render(request, "reports/subscriptions.html", context)


@login_required
@require_POST
def unsubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop one of the user's own subscriptions (someone else's: 404)."""
    sub = get_object_or_404(ReportSubscription.objects.of_user(request.user), pk=pk)
    actions.unsubscribe(sub)
    messages.success(request, f"Stopped: {sub}.")
    return redirect("reports:subscriptions")


@login_required
@require_GET
def download(request: HttpRequest) -> HttpResponse:
    """The PDF or CSV of a site (``site=<slug>``) or of the fleet, for one period."""
    form = DownloadForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
        return HttpResponseBadRequest(errors, content_type="text/plain")
    data = form.cleaned_data
    site = None
    if data["site"]:
        site = get_object_or_404(Site.objects.for_user(request.user), slug=data["site"])
    now = timezone.now()
    tz = site.tz if site else actions.fleet_tz()
    period = actions.period_for(data["period"], tz, data["date"], now)
    report = actions.build_report(request.user, site, period, now)
    if data["format"] == "csv":
        response = HttpResponse(report_render.csv_text(report), content_type="text/csv")
    else:
        response = HttpResponse(report_render.pdf(report), content_type="application/pdf")
    name = report_render.filename(report, data["format"])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
