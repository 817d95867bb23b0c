"""Admin scoping shared by every app whose objects belong to a site.

Superusers see everything. Other staff users (facility managers given admin access) see only the
objects of their sites and may change only those of sites where they are managers. Foreign-key
choices are narrowed the same way, so a form cannot point an object at another site.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest


def site_of(obj: Model) -> Any:
    """The Site an object belongs to, following ``site``, ``bank``, ``battery`` or ``gateway``."""
    for attr in ("site", "bank", "battery", "gateway"):
        if hasattr(obj, f"{attr}_id") or hasattr(obj, attr):
            target = getattr(obj, attr, None)
            if target is not None:
                return target if attr == "site" else site_of(target)
    from sites.models import Site

    return obj if isinstance(obj, Site) else None


class SiteScopedAdmin(admin.ModelAdmin):
    """ModelAdmin whose queryset and permissions follow the user's site memberships."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        return qs.for_user(request.user) if hasattr(qs, "for_user") else qs

    def _may_change(self, request: HttpRequest, obj: Model | None) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            from sites.choices import Role
            from sites.models import SiteMembership

            return SiteMembership.objects.filter(user=request.user, role=Role.MANAGER).exists()
        site = site_of(obj)
        if site is None:
            return False
        return type(site).objects.managed_by(request.user).filter(pk=site.pk).exists()

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_change(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_change(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._may_change(request, None)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.remote_field.model
        manager = related._default_manager
        if hasattr(manager.get_queryset(), "managed_by") and not request.user.is_superuser:
            kwargs["queryset"] = manager.get_queryset().managed_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
