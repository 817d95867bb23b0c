"""Forms of the reports pages: a subscription, and an on-demand download."""

from __future__ import annotations

from typing import Any

from django import forms

from sites.models import Site
from sites.reports.choices import PeriodKind, ReportFormat
from sites.reports.models import ReportSubscription


class SubscriptionForm(forms.ModelForm):
    """Only sites the user may see are offered; empty means the fleet report."""

    class Meta:
        model = ReportSubscription
        fields = ["site", "period", "send_pdf", "send_csv"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site = self.fields["site"]
        site.queryset = Site.objects.for_user(user).order_by("name")  # type: ignore[attr-defined]
        site.empty_label = "All sites I may see (fleet report)"  # type: ignore[attr-defined]
        site.required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("send_pdf") and not data.get("send_csv"):
            raise forms.ValidationError("Choose PDF, CSV or both.")
        return data

    def validate_unique(self) -> None:
        """``actions.subscribe`` updates an existing subscription instead of failing."""


class DownloadForm(forms.Form):
    """``?site=<slug>&period=weekly&date=2026-11-23&format=pdf`` (site empty: the fleet)."""

    site = forms.SlugField(required=False)
    period = forms.ChoiceField(
        choices=PeriodKind.choices, initial=PeriodKind.WEEKLY, required=False
    )
    date = forms.DateField(
        required=False, help_text="Any day of the period; empty: the last complete period."
    )
    format = forms.ChoiceField(
        choices=ReportFormat.choices, initial=ReportFormat.PDF, required=False
    )

    def clean_period(self) -> str:
        return self.cleaned_data.get("period") or PeriodKind.WEEKLY

    def clean_format(self) -> str:
        return self.cleaned_data.get("format") or ReportFormat.PDF
