"""The "API tokens" page: a user lists, creates and revokes their personal API tokens."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from bms_portal.api import tokens
from bms_portal.models import ApiToken

EXPIRY_CHOICES = [("", "never"), ("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'BMS export'.")
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False, label="Expires"
    )

    def expires_at(self) -> dt.datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + dt.timedelta(days=days) if days else None


def _user_id(request: HttpRequest) -> int:
    user_id = request.user.pk
    assert user_id is not None  # login_required
    return int(user_id)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """GET: the user's tokens and a form; POST: create one and show its key, this once."""
    form = TokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_key = tokens.create_token(
                request.user, form.cleaned_data["name"].strip(), expires_at=form.expires_at()
            )
        except tokens.TokenLimitReached as exc:
            form.add_error("name", str(exc))
        else:
            form = TokenForm()
    context = {
        "tokens": ApiToken.objects.filter(user_id=_user_id(request)).order_by("-created_at", "-id"),
        "form": form,
        "new_key": new_key,
    }
    return render(request, "bms_portal/api_tokens.html", context)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens (another user's token: 404)."""
    token = get_object_or_404(ApiToken, pk=pk, user_id=_user_id(request))
    tokens.revoke_token(token)
    messages.success(request, f"Token {token.name!r} revoked: its key no longer works.")
    return redirect("api-tokens")
