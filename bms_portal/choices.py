"""Kinds of the project-level models (never bare strings in the code)."""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    """What happened to the audited object."""

    CREATE = "create", "created"
    CHANGE = "change", "changed"
    DELETE = "delete", "deleted"
