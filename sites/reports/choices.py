"""Kinds and states of reports (never bare strings in the code)."""

from __future__ import annotations

from django.db import models


class PeriodKind(models.TextChoices):
    DAILY = "daily", "daily"
    WEEKLY = "weekly", "weekly (Monday to Sunday)"
    MONTHLY = "monthly", "monthly"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "waiting to be sent"
    SENDING = "sending", "being sent"
    RETRY = "retry", "failed, will retry"
    SENT = "sent", "sent"
    FAILED = "failed", "failed for good (all attempts used)"


class ReportFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    CSV = "csv", "CSV"
