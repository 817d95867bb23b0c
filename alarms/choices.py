"""Kinds and states of the alarms app (never bare strings in the code)."""

from __future__ import annotations

from django.db import models


class RuleKind(models.TextChoices):
    """What an alarm is about. ``alarms/rules.py`` says how each kind is evaluated."""

    VOLTAGE_HIGH = "voltage_high", "block voltage high"
    VOLTAGE_LOW = "voltage_low", "block voltage low"
    TEMPERATURE_HIGH = "temperature_high", "temperature high"
    TEMPERATURE_LOW = "temperature_low", "temperature low"
    DCR_HIGH = "dcr_high", "internal resistance (DCR) above a value"
    DCR_RISE = "dcr_rise", "internal resistance (DCR) risen over its baseline"
    MICRO_VOLTAGE_BAND = "micro_voltage_band", "micro-discharge voltage out of band"
    EMF_BAND = "emf_band", "EMF out of band"
    VOLTAGE_DEVIATION = "voltage_deviation", "voltage deviates from the bank mean"
    TEMPERATURE_DEVIATION = "temperature_deviation", "temperature deviates from the bank mean"
    STRING_VOLTAGE_HIGH = "string_voltage_high", "string voltage high"
    STRING_VOLTAGE_LOW = "string_voltage_low", "string voltage low"
    DISCHARGE = "discharge", "string discharging"
    FLOAT_CURRENT_HIGH = "float_current_high", "float current high"
    THERMAL_RUNAWAY = "thermal_runaway", "thermal-runaway signature"
    COMM_LOST_UNIT = "comm_lost_unit", "battery monitor (BMU) not answering"
    COMM_LOST_CMU = "comm_lost_cmu", "string monitor (CMU) not answering"
    COMM_LOST_GATEWAY = "comm_lost_gateway", "gateway silent"
    FORECAST_RUL = "forecast_rul", "forecast to need replacement soon"


#: The kinds that mean "we cannot see this object": they roll up as *offline*, not as an alarm.
COMM_LOST_KINDS = (RuleKind.COMM_LOST_UNIT, RuleKind.COMM_LOST_CMU, RuleKind.COMM_LOST_GATEWAY)


class Scope(models.TextChoices):
    """The kind of object an alarm is raised on."""

    BATTERY = "battery", "battery"
    BANK = "bank", "bank (string)"
    GATEWAY = "gateway", "gateway"


class Severity(models.TextChoices):
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


#: Severity order, lowest first (for "worst of" computations).
SEVERITY_RANK = {Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlarmState(models.TextChoices):
    """``pending``: the condition holds but its delay has not passed yet (not shown, no message)."""

    PENDING = "pending", "pending (delay running)"
    ACTIVE = "active", "active"
    ACKNOWLEDGED = "acknowledged", "acknowledged"
    CLEARED = "cleared", "cleared"


#: States in which an alarm is "open": at most one open alarm per (kind, object).
OPEN_STATES = (AlarmState.PENDING, AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED)
#: States shown as a current alarm (pages, relays, status roll-up).
RAISED_STATES = (AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED)


class ThresholdLevel(models.TextChoices):
    """Where an effective threshold comes from, most generic first."""

    BUILTIN = "builtin", "built-in default"
    CHEMISTRY = "chemistry", "chemistry"
    BATTERY_MODEL = "battery_model", "battery model"
    SITE = "site", "site"
    BANK = "bank", "bank"
    BATTERY = "battery", "battery"


class Channel(models.TextChoices):
    EMAIL = "email", "e-mail"
    WEBHOOK = "webhook", "signed webhook"


class SubscriptionRole(models.TextChoices):
    PRIMARY = "primary", "primary contact (at once, reminders)"
    ESCALATION = "escalation", "escalation contact (when unacknowledged too long)"


class MessageKind(models.TextChoices):
    ALARM = "alarm", "new alarms"
    REMINDER = "reminder", "reminder"
    ESCALATION = "escalation", "escalation"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "waiting to be sent"
    SENDING = "sending", "being sent"
    RETRY = "retry", "failed, will retry"
    SENT = "sent", "sent"
    FAILED = "failed", "failed for good (all attempts used)"
    SUPPRESSED = "suppressed", "not sent (maintenance window)"


class AttemptStatus(models.TextChoices):
    OK = "ok", "accepted"
    ERROR = "error", "error"


class RelayCondition(models.TextChoices):
    """What energises a dry-contact relay (site-wide, open alarms active or acknowledged)."""

    NONE = "none", "unused (always off)"
    ANY_CRITICAL = "any_critical", "any critical alarm"
    ANY_WARNING = "any_warning", "any alarm (warning or critical)"
    COMM_LOST = "comm_lost", "communication lost"
    THERMAL_RUNAWAY = "thermal_runaway", "thermal runaway"


class Status(models.TextChoices):
    """Roll-up status of a battery, bank, site or the fleet."""

    OK = "ok", "ok"
    WARNING = "warning", "warning"
    ALARM = "alarm", "alarm"
    OFFLINE = "offline", "offline"
