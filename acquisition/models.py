"""Readings storage as Django sees it.

The two big tables (``Reading``, ``BankReading``) are range-partitioned by time and created by raw
SQL in the migrations (Django cannot declare partitioning); their models here are ``managed=False``
so pages and the API can read them through the ORM. They carry no foreign-key constraint: a
constraint check per row costs on the ingest hot path, and batteries are never deleted anyway
(``on_delete=PROTECT`` everywhere else). See docs/storage.md.

The small tables (latest values, rollups, rejection counters, DCR requests, rollup queue) are
ordinary managed models.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from sites.models import Bank, Battery, Gateway


class RejectReason(models.TextChoices):
    """Why the ingest refused a reading (or one value of it). Counted per gateway."""

    OUT_OF_RANGE = "out_of_range", "value outside the measuring range"
    UNKNOWN_UNIT = "unknown_unit", "unknown battery or bank"
    OTHER_GATEWAY = "other_gateway", "unit of another gateway"
    NOT_IN_SERVICE = "not_in_service", "battery not in service"
    FUTURE = "future", "timestamp in the future"
    TOO_OLD = "too_old", "timestamp older than the retention window"


class Reading(models.Model):
    """One BMU reading. Partitioned table ``acquisition_reading`` (daily partitions, raw SQL)."""

    pk = models.CompositePrimaryKey("battery_id", "ts")
    battery = models.ForeignKey(
        Battery, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    ts = models.DateTimeField()
    voltage = models.FloatField(null=True)  # V (real)
    temperature = models.FloatField(null=True)  # C
    dcr = models.FloatField(null=True)  # mOhm
    micro_voltage = models.FloatField(null=True)  # V
    emf = models.FloatField(null=True)  # V
    status = models.SmallIntegerField(null=True)

    class Meta:
        managed = False
        db_table = "acquisition_reading"

    def __str__(self) -> str:
        return f"battery {self.battery_id} at {self.ts:%Y-%m-%d %H:%M:%S}"


class BankReading(models.Model):
    """One CMU reading. Partitioned table ``acquisition_bankreading`` (raw SQL)."""

    pk = models.CompositePrimaryKey("bank_id", "ts")
    bank = models.ForeignKey(
        Bank, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    ts = models.DateTimeField()
    string_voltage = models.FloatField(null=True)  # V
    current = models.FloatField(null=True)  # A, charge +, discharge -
    ambient = models.FloatField(null=True)  # C
    status = models.SmallIntegerField(null=True)

    class Meta:
        managed = False
        db_table = "acquisition_bankreading"

    def __str__(self) -> str:
        return f"bank {self.bank_id} at {self.ts:%Y-%m-%d %H:%M:%S}"


class LatestReading(models.Model):
    """The newest reading per battery (the live table; also each battery's "last seen").

    Upserted once per ingest batch; only ever moves forward in time.
    """

    battery = models.OneToOneField(
        Battery, on_delete=models.CASCADE, primary_key=True, related_name="latest_reading"
    )
    ts = models.DateTimeField()
    voltage = models.FloatField(null=True)
    temperature = models.FloatField(null=True)
    dcr = models.FloatField(null=True)
    micro_voltage = models.FloatField(null=True)
    emf = models.FloatField(null=True)
    status = models.SmallIntegerField(null=True)
    updated = models.DateTimeField()

    def __str__(self) -> str:
        return f"battery {self.battery_id} at {self.ts:%Y-%m-%d %H:%M:%S}"


class LatestBankReading(models.Model):
    """The newest reading per bank (CMU)."""

    bank = models.OneToOneField(
        Bank, on_delete=models.CASCADE, primary_key=True, related_name="latest_reading"
    )
    ts = models.DateTimeField()
    string_voltage = models.FloatField(null=True)
    current = models.FloatField(null=True)
    ambient = models.FloatField(null=True)
    status = models.SmallIntegerField(null=True)
    updated = models.DateTimeField()

    def __str__(self) -> str:
        return f"bank {self.bank_id} at {self.ts:%Y-%m-%d %H:%M:%S}"


class RollupBase(models.Model):
    pk = models.CompositePrimaryKey("battery_id", "bucket")
    # No database constraint: a backfill over old readings of a since-deleted battery must not
    # fail; Django still cascades the delete of a battery to its rollups.
    battery = models.ForeignKey(
        Battery, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    bucket = models.DateTimeField(help_text="Start of the hour / UTC day.")
    n = models.PositiveIntegerField(help_text="Readings in the bucket.")
    voltage_min = models.FloatField(null=True)
    voltage_avg = models.FloatField(null=True)
    voltage_max = models.FloatField(null=True)
    temperature_min = models.FloatField(null=True)
    temperature_avg = models.FloatField(null=True)
    temperature_max = models.FloatField(null=True)
    dcr_min = models.FloatField(null=True)
    dcr_avg = models.FloatField(null=True)
    dcr_max = models.FloatField(null=True)
    micro_voltage_min = models.FloatField(null=True)
    micro_voltage_avg = models.FloatField(null=True)
    micro_voltage_max = models.FloatField(null=True)
    emf_min = models.FloatField(null=True)
    emf_avg = models.FloatField(null=True)
    emf_max = models.FloatField(null=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"battery {self.battery_id}, {self.bucket:%Y-%m-%d %H:00}"


class HourlyRollup(RollupBase):
    """min/avg/max per battery and UTC hour; recomputed idempotently (storage.rollup)."""

    class Meta:
        db_table = "acquisition_hourlyrollup"


class DailyRollup(RollupBase):
    """min/avg/max per battery and UTC day, computed from the hourly rollups."""

    class Meta:
        db_table = "acquisition_dailyrollup"


class RollupQueue(models.Model):
    """Hours that received readings and need their rollups (re)computed, per gateway.

    The ingest adds one row per (gateway, hour) of a batch (usually one); the rollup task claims
    closed hours with ``DELETE ... RETURNING`` so late data (an agent's outbox after an outage) is
    rolled up too, and only for the gateway that sent it.
    """

    pk = models.CompositePrimaryKey("gateway_id", "hour")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()

    class Meta:
        db_table = "acquisition_rollupqueue"

    def __str__(self) -> str:
        return f"gateway {self.gateway_id}, {self.hour:%Y-%m-%d %H:00}"


class AlarmHandoff(models.Model):
    """A stored batch whose alarm evaluation is owed: the broker's message is not the only record.

    The ingest inserts the row in the transaction that stores the readings and hands the batch to
    ``acquisition.handoff`` after commit; the evaluation deletes it in its own transaction. A row
    whose message was lost (broker restarted without persistence, down at hand-off time, a web
    process killed within its hand-off window) is queued again by the alarms sweep
    (``alarms.actions.requeue_evaluations``).

    One row per ingest request, so it is kept cheap: no database foreign key (the ingest has just
    authenticated the gateway; Django still deletes the rows with their gateway), and the payload
    (up to 254 unit ids, a few kB) kept inline without compression up to a full page (migration
    0004, ``toast_tuple_target``: pglz cost ~5 % of PostgreSQL's CPU on the ingest path).
    """

    key = models.CharField(primary_key=True, max_length=32)  # payload["handoff"]
    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    payload = models.JSONField()
    created_at = models.DateTimeField()
    queued_at = models.DateTimeField()

    class Meta:
        db_table = "acquisition_alarmhandoff"
        indexes = [
            # the sweep's claim: WHERE queued_at < now - ALARMS_HANDOFF_RETRY_S
            models.Index(fields=["queued_at"], name="alarmhandoff_queued_at"),
        ]

    def __str__(self) -> str:
        return f"evaluation {self.key} of gateway {self.gateway_id}"


class IngestRejection(models.Model):
    """How many readings (or values) the ingest rejected per gateway and reason."""

    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="rejections")
    reason = models.CharField(max_length=20, choices=RejectReason.choices)
    count = models.BigIntegerField(default=0)
    last_at = models.DateTimeField()
    last_detail = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "reason"], name="ingestrejection_gateway_reason_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id}: {self.reason} x{self.count}"


class DcrMeasurementRequest(models.Model):
    """A manager asks for a DCR measurement now; the next ingest reply of the battery's gateway
    carries it once (``sent_at`` is set when it is handed to the agent)."""

    battery = models.ForeignKey(Battery, on_delete=models.CASCADE, related_name="dcr_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # ingest(): claims the unsent requests of one gateway's batteries, every request.
            models.Index(
                fields=["battery"],
                condition=models.Q(sent_at__isnull=True),
                name="dcrrequest_pending_idx",
            )
        ]

    def __str__(self) -> str:
        state = f"sent {self.sent_at:%Y-%m-%d %H:%M}" if self.sent_at else "pending"
        return f"DCR of battery {self.battery_id} ({state})"
