from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from bms_portal import audit
from bms_portal.audit import AuditedAdminMixin
from bms_portal.scoping import SiteScopedAdmin
from sites import actions
from sites.models import (
    Bank,
    Battery,
    BatteryModel,
    BatteryReplacement,
    Bus,
    Gateway,
    Site,
    SiteMembership,
)


class MembershipInline(admin.TabularInline):
    model = SiteMembership
    extra = 0
    autocomplete_fields = ["user"]

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    has_change_permission = has_add_permission
    has_delete_permission = has_add_permission


class BankInline(admin.TabularInline):
    model = Bank
    extra = 0
    fields = [
        "name",
        "bus",
        "cmu_address",
        "battery_model",
        "nominal_voltage",
        "float_voltage",
        "positions",
    ]
    show_change_link = True


@admin.register(Site)
class SiteAdmin(AuditedAdminMixin, SiteScopedAdmin):
    list_display = ["name", "slug", "time_zone", "contact_name", "created_at"]
    list_filter = ["time_zone"]
    search_fields = ["name", "slug", "address", "contact_name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [BankInline, MembershipInline]


class BusInline(admin.TabularInline):
    model = Bus
    extra = 0


@admin.register(Gateway)
class GatewayAdmin(AuditedAdminMixin, SiteScopedAdmin):
    list_display = ["name", "site", "token_prefix", "last_seen_at", "scan_interval_s", "revoked_at"]
    list_filter = [
        ("site", admin.RelatedOnlyFieldListFilter),
        ("revoked_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["name", "site__name", "token_prefix"]
    readonly_fields = ["token_prefix", "token_created_at", "last_seen_at", "agent_state"]
    inlines = [BusInline]
    actions = ["rotate_token", "revoke_token"]

    def save_model(self, request: HttpRequest, obj: Gateway, form, change: bool) -> None:
        if not change:
            token = obj.set_new_token()
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                f"Token of gateway {obj.name}: {token} - copy it into the agent's config now; "
                "it is stored hashed and will not be shown again.",
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Issue a new token (the old one stops working)")
    def rotate_token(self, request: HttpRequest, queryset: QuerySet[Gateway]) -> None:
        for gateway in queryset:
            with audit.tracking(gateway, request=request, source="admin action"):
                token = actions.rotate_gateway_token(gateway)
            messages.warning(request, f"New token of {gateway}: {token} (shown once)")

    @admin.action(description="Revoke the token")
    def revoke_token(self, request: HttpRequest, queryset: QuerySet[Gateway]) -> None:
        for gateway in queryset:
            with audit.tracking(gateway, request=request, source="admin action"):
                actions.revoke_gateway_token(gateway)
        messages.info(request, f"Revoked {queryset.count()} token(s).")


@admin.register(BatteryModel)
class BatteryModelAdmin(admin.ModelAdmin):
    list_display = [
        "manufacturer",
        "model",
        "chemistry",
        "unit_type",
        "nominal_voltage",
        "capacity_ah",
    ]
    list_filter = ["chemistry", "unit_type", "manufacturer"]
    search_fields = ["manufacturer", "model"]


class BatteryInline(admin.TabularInline):
    model = Battery
    extra = 0
    fields = ["position", "model", "bus", "bmu_address", "serial", "install_date", "status"]
    show_change_link = True


@admin.register(Bank)
class BankAdmin(SiteScopedAdmin):
    list_display = ["name", "site", "bus", "cmu_address", "positions", "battery_model"]
    list_filter = [("site", admin.RelatedOnlyFieldListFilter), "battery_model__chemistry"]
    search_fields = ["name", "site__name"]
    list_select_related = ["site", "bus", "battery_model"]
    inlines = [BatteryInline]


@admin.register(Battery)
class BatteryAdmin(SiteScopedAdmin):
    list_display = [
        "__str__",
        "model",
        "bmu_address",
        "serial",
        "install_date",
        "dcr_baseline_mohm",
        "status",
    ]
    list_filter = [
        "status",
        "model__unit_type",
        "model__chemistry",
        ("bank__site", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["serial", "bank__name", "bank__site__name"]
    list_select_related = ["bank__site", "model"]


@admin.register(BatteryReplacement)
class BatteryReplacementAdmin(SiteScopedAdmin):
    list_display = ["bank", "position", "replaced_on", "reason", "performed_by"]
    list_filter = [("bank__site", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["bank__name", "reason"]
    list_select_related = ["bank__site", "performed_by"]


@admin.register(SiteMembership)
class SiteMembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Who may see which site: only admins grant access."""

    list_display = ["user", "site", "role"]
    list_filter = ["role", "site"]
    search_fields = ["user__username", "site__name"]
    autocomplete_fields = ["user"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    has_add_permission = has_module_permission

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    has_delete_permission = has_change_permission


from sites.reports import admin as reports_admin  # noqa: E402,F401  (registers the report models)
