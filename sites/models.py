"""The fleet: sites, their edge gateways and buses, battery strings (banks) and batteries.

Who may see a site is a ``SiteMembership``; superusers (admins) see everything. Every reusable
query that must respect that goes through ``for_user`` on the querysets below, so pages, the API,
the admin and exports share one definition of "visible".
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from acquisition import registermap
from sites.choices import BatteryStatus, BusKind, Chemistry, Parity, Role, UnitType

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser

MIN_SCAN_INTERVAL_S = 10  # the UMW's shortest scan period (brochure)
ADDRESS_VALIDATORS = [MinValueValidator(1), MaxValueValidator(registermap.MAX_RTU_ADDRESS)]


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris)")


def _visible_site_ids(user: AnyUser) -> models.QuerySet[SiteMembership] | None:
    """None for "everything" (superusers); else a subquery of the site ids the user is member of."""
    if user.is_superuser:
        return None
    if not user.is_authenticated:
        return SiteMembership.objects.none().values("site_id")
    return SiteMembership.objects.filter(user_id=user.pk).values("site_id")


class SiteScopedQuerySet(models.QuerySet):
    """Queryset of a model that belongs to a site through ``site_path``."""

    site_path = "site"

    def for_user(self, user: AnyUser) -> SiteScopedQuerySet:
        ids = _visible_site_ids(user)
        if ids is None:
            return self
        return self.filter(**{f"{self.site_path}__in": ids})

    def managed_by(self, user: AnyUser) -> SiteScopedQuerySet:
        """Objects of sites where the user may change things (admins: all)."""
        if user.is_superuser:
            return self
        if not user.is_authenticated:
            return self.none()
        ids = SiteMembership.objects.filter(user_id=user.pk, role=Role.MANAGER).values("site_id")
        return self.filter(**{f"{self.site_path}__in": ids})


class SiteQuerySet(SiteScopedQuerySet):
    site_path = "pk"


class Site(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    address = models.TextField(blank=True)
    latitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    longitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    contact_name = models.CharField(max_length=120, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="site_latitude_range",
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
            ),
            models.CheckConstraint(
                name="site_longitude_range",
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sites:site", args=[self.slug])

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class SiteMembership(models.Model):
    """Grants a user a role on one site. Admins (superusers) need none."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_memberships"
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "site"], name="sitemembership_user_site_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()} of {self.site}"


def hash_token(token: str) -> str:
    """Gateway tokens are 256-bit random strings, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


class GatewayQuerySet(SiteScopedQuerySet):
    def by_token(self, token: str) -> Gateway | None:
        if not token:
            return None
        return (
            self.filter(token_hash=hash_token(token), revoked_at__isnull=True)
            .select_related("site")
            .first()
        )


class Gateway(models.Model):
    """A site's edge agent: polls its buses and pushes readings with its token."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="gateways")
    name = models.CharField(max_length=120)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters of the token, to recognise it."
    )
    token_created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    scan_interval_s = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(MIN_SCAN_INTERVAL_S)]
    )
    heartbeat_s = models.PositiveIntegerField(
        default=300, help_text="Upload every unit at least this often even when nothing changed."
    )
    dcr_interval_h = models.PositiveIntegerField(
        default=24, help_text="Hours between automatic DCR measurements (0 = on command only)."
    )
    relay_bus = models.ForeignKey(
        "Bus", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    relay_address = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ADDRESS_VALIDATORS
    )
    agent_state = models.JSONField(
        default=dict, blank=True, editable=False, help_text="What the agent last reported."
    )

    objects = GatewayQuerySet.as_manager()

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="gateway_site_name_unique"),
            models.CheckConstraint(
                name="gateway_scan_interval_min",
                condition=Q(scan_interval_s__gte=MIN_SCAN_INTERVAL_S),
            ),
            models.CheckConstraint(
                name="gateway_relay_bus_and_address",
                condition=Q(relay_bus__isnull=True, relay_address__isnull=True)
                | Q(relay_bus__isnull=False, relay_address__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site} / {self.name}"

    def set_new_token(self) -> str:
        """Issue a new token; returns it in clear (shown once), stores only its hash."""
        token = secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.token_prefix = token[:8]
        self.token_created_at = timezone.now()
        self.revoked_at = None
        return token


class Bus(models.Model):
    """One Modbus bus of a gateway: an RS-485 line or a Modbus TCP endpoint."""

    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="buses")
    name = models.CharField(max_length=40)
    kind = models.CharField(max_length=3, choices=BusKind.choices, default=BusKind.RTU)
    serial_port = models.CharField(max_length=120, blank=True, help_text="e.g. /dev/ttyUSB0")
    baud = models.PositiveIntegerField(default=9600)
    parity = models.CharField(max_length=1, choices=Parity.choices, default=Parity.NONE)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(
        default=502, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    timeout_ms = models.PositiveIntegerField(default=500)

    class Meta:
        verbose_name_plural = "buses"
        ordering = ["gateway", "name"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "name"], name="bus_gateway_name_unique"),
            models.CheckConstraint(
                name="bus_rtu_needs_serial_port",
                condition=~Q(kind=BusKind.RTU) | ~Q(serial_port=""),
            ),
            models.CheckConstraint(
                name="bus_tcp_needs_host", condition=~Q(kind=BusKind.TCP) | ~Q(host="")
            ),
        ]

    def __str__(self) -> str:
        where = self.serial_port if self.kind == BusKind.RTU else f"{self.host}:{self.port}"
        return f"{self.name} ({self.get_kind_display()}, {where})"


class BatteryModel(models.Model):
    manufacturer = models.CharField(max_length=120)
    model = models.CharField(max_length=120)
    chemistry = models.CharField(max_length=8, choices=Chemistry.choices, default=Chemistry.VRLA)
    nominal_voltage = models.DecimalField(max_digits=5, decimal_places=2)
    capacity_ah = models.DecimalField(max_digits=7, decimal_places=1)
    unit_type = models.CharField(max_length=1, choices=UnitType.choices)
    float_voltage = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True, help_text="Per unit, at 25 C."
    )

    class Meta:
        ordering = ["manufacturer", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["manufacturer", "model"], name="batterymodel_manufacturer_model_unique"
            ),
            models.CheckConstraint(
                name="batterymodel_nominal_voltage_positive", condition=Q(nominal_voltage__gt=0)
            ),
            models.CheckConstraint(
                name="batterymodel_capacity_positive", condition=Q(capacity_ah__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.model}"

    @property
    def measuring_ranges(self) -> dict[str, registermap.Range]:
        """The BMU's measuring ranges for this model's unit type (brochure values)."""
        return registermap.RANGES[self.unit_type]


class BankQuerySet(SiteScopedQuerySet):
    pass


class Bank(models.Model):
    """One battery string, monitored by one CMU (string voltage and current)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="banks")
    name = models.CharField(max_length=120)
    bus = models.ForeignKey(
        Bus, on_delete=models.PROTECT, null=True, blank=True, related_name="banks"
    )
    cmu_address = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ADDRESS_VALIDATORS
    )
    battery_model = models.ForeignKey(
        BatteryModel, on_delete=models.PROTECT, related_name="banks", null=True, blank=True
    )
    nominal_voltage = models.DecimalField(max_digits=6, decimal_places=2)
    float_voltage = models.DecimalField(max_digits=6, decimal_places=2)
    positions = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(registermap.MAX_UNITS_PER_GATEWAY)]
    )

    objects = BankQuerySet.as_manager()

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="bank_site_name_unique"),
            models.UniqueConstraint(
                fields=["bus", "cmu_address"], name="bank_bus_cmu_address_unique"
            ),
            models.CheckConstraint(
                name="bank_cmu_needs_bus",
                condition=Q(cmu_address__isnull=True) | Q(bus__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site} / {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("sites:bank", args=[self.pk])

    def clean(self) -> None:
        if self.bus_id and self.bus.gateway.site_id != self.site_id:
            raise ValidationError({"bus": "The bus belongs to a gateway of another site."})
        if self.bus_id and self.cmu_address:
            _check_address_free(self.bus_id, self.cmu_address, bank_pk=self.pk)


class BatteryQuerySet(SiteScopedQuerySet):
    site_path = "bank__site"

    def in_service(self) -> BatteryQuerySet:
        return self.filter(status=BatteryStatus.IN_SERVICE)


class Battery(models.Model):
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="batteries")
    position = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    model = models.ForeignKey(BatteryModel, on_delete=models.PROTECT, related_name="batteries")
    bus = models.ForeignKey(
        Bus, on_delete=models.PROTECT, null=True, blank=True, related_name="batteries"
    )
    bmu_address = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ADDRESS_VALIDATORS
    )
    serial = models.CharField(max_length=80, blank=True)
    install_date = models.DateField(null=True, blank=True)
    dcr_baseline_mohm = models.DecimalField(
        "DCR baseline (mOhm)", max_digits=8, decimal_places=3, null=True, blank=True
    )
    dcr_baseline_set_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=BatteryStatus.choices, default=BatteryStatus.IN_SERVICE
    )

    objects = BatteryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "batteries"
        ordering = ["bank", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["bank", "position"],
                condition=Q(status=BatteryStatus.IN_SERVICE),
                name="battery_bank_position_unique_in_service",
            ),
            models.UniqueConstraint(
                fields=["bus", "bmu_address"],
                condition=Q(status=BatteryStatus.IN_SERVICE),
                name="battery_bus_bmu_address_unique_in_service",
            ),
            models.CheckConstraint(
                name="battery_bmu_address_range",
                condition=Q(bmu_address__isnull=True)
                | Q(bmu_address__gte=1, bmu_address__lte=registermap.MAX_RTU_ADDRESS),
            ),
            models.CheckConstraint(
                name="battery_in_service_has_address",
                condition=~Q(status=BatteryStatus.IN_SERVICE)
                | Q(bus__isnull=False, bmu_address__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bank} / #{self.position}"

    def get_absolute_url(self) -> str:
        return reverse("sites:battery", args=[self.pk])

    @property
    def unit_type(self) -> str:
        return self.model.unit_type

    def clean(self) -> None:
        if self.bus_id and self.bank_id and self.bus.gateway.site_id != self.bank.site_id:
            raise ValidationError({"bus": "The bus belongs to a gateway of another site."})
        if self.bank_id and self.position and self.position > self.bank.positions:
            raise ValidationError({"position": f"The bank has {self.bank.positions} positions."})
        if self.status == BatteryStatus.IN_SERVICE and self.bus_id and self.bmu_address:
            _check_address_free(self.bus_id, self.bmu_address, battery_pk=self.pk)


def _check_address_free(
    bus_id: int, address: int, *, bank_pk: int | None = None, battery_pk: int | None = None
) -> None:
    """A Modbus address is used by one unit per bus, whether it is a BMU or a CMU."""
    cmu = Bank.objects.filter(bus_id=bus_id, cmu_address=address).exclude(pk=bank_pk)
    bmu = Battery.objects.in_service().filter(bus_id=bus_id, bmu_address=address)
    bmu = bmu.exclude(pk=battery_pk)
    if cmu.exists() or bmu.exists():
        field = "cmu_address" if bank_pk is not None or battery_pk is None else "bmu_address"
        raise ValidationError({field: f"Address {address} is already used on this bus."})


class BatteryReplacement(models.Model):
    """One battery taken out of a bank position and another put in: the position's history."""

    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="replacements")
    position = models.PositiveSmallIntegerField()
    removed = models.ForeignKey(
        Battery, on_delete=models.PROTECT, related_name="removals", null=True, blank=True
    )
    installed = models.ForeignKey(Battery, on_delete=models.PROTECT, related_name="installations")
    replaced_on = models.DateField()
    reason = models.CharField(max_length=200, blank=True)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="battery_replacements",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-replaced_on", "-created_at"]
        indexes = [
            # the battery page lists the history of its bank position
            models.Index(fields=["bank", "position"], name="replacement_bank_position_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.bank} #{self.position} replaced on {self.replaced_on}"


def role_on(user: Any, site: Site) -> str | None:
    """The user's role on a site: 'admin', a ``Role`` value, or None."""
    if user.is_superuser:
        return "admin"
    if not user.is_authenticated:
        return None
    membership = SiteMembership.objects.filter(user_id=user.pk, site_id=site.pk).first()
    return membership.role if membership else None


# Report subscriptions and deliveries are models of this app, kept in their sub-package.
from sites.reports.models import ReportDelivery, ReportSubscription  # noqa: E402,F401
