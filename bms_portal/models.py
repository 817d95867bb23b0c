"""Project-level models: worker heartbeats (is each queue served?), personal API tokens and the
audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from bms_portal.choices import AuditAction

#: Personal API keys start with this, so a leaked key is recognisable (secret scanners, logs).
KEY_PREFIX = "bmsp_"


class WorkerHeartbeat(models.Model):
    """Last time a worker of a queue ran the heartbeat task (scheduled by beat every minute)."""

    queue = models.CharField(max_length=40, primary_key=True)
    hostname = models.CharField(max_length=255)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.queue} @ {self.hostname} {self.seen_at:%Y-%m-%d %H:%M:%S}"


def hash_api_key(key: str) -> str:
    """Keys are 256-bit random strings, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self, now: dt.datetime | None = None) -> ApiTokenQuerySet:
        """Tokens that authenticate now: not revoked, not expired."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal API token: a user's key for scripts and other systems (docs/api.md).

    Only the SHA-256 of the key is stored; the key itself is shown once, when it is created.
    A token acts as its user, with the same site scoping as the portal.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'BMS export'.")
    key_hash = models.CharField(max_length=64, editable=False)
    prefix = models.CharField(
        max_length=16, editable=False, help_text="First characters of the key, to recognise it."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            # every authenticated API request looks its token up by key hash
            models.UniqueConstraint(fields=["key_hash"], name="apitoken_key_hash_unique"),
        ]
        indexes = [
            # the "API tokens" page and GET /api/v1/tokens/ list one user's tokens, newest first
            models.Index(fields=["user", "-created_at"], name="apitoken_user_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def is_active(self) -> bool:
        expired = self.expires_at is not None and self.expires_at <= timezone.now()
        return self.revoked_at is None and not expired

    def set_new_key(self) -> str:
        """Issue a key; returns it in clear (shown once), keeps only its hash and prefix."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.key_hash = hash_api_key(key)
        self.prefix = key[: len(KEY_PREFIX) + 6]
        return key


class ApiRateWindow(models.Model):
    """One API rate-limit counter: the hits of a key (scope and user, token or IP) in its current
    fixed window. Used when the cache is the database (no Redis): one upsert per request, where
    Django's database cache costs six queries per ``set``. Rows of past windows are dead weight
    and may be deleted at any time."""

    key = models.CharField(max_length=120, primary_key=True)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.hits} since {self.window_start:%Y-%m-%d %H:%M:%S}"


class AuditEntry(models.Model):
    """One audited change: who changed which object when, with its values before and after.

    Written by ``bms_portal.audit`` (admin mixin and explicit calls in actions) for users, site
    memberships, gateways, thresholds and alarm rules. ``before`` holds the changed fields' old
    values (the whole object for a deletion), ``after`` their new values (the whole object for a
    creation). Secrets (password and token hashes, webhook secrets) are never stored in clear.
    """

    at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_entries",
    )
    #: The actor's username at the time (kept when the user is deleted later).
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    #: ``app_label.model``, e.g. ``sites.gateway``.
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    #: Where the change came from: ``admin``, ``admin action``, ``api``, ``command`` ...
    source = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [
            # the audit log in the admin, newest first (and pruning old entries by date)
            models.Index(fields=["-at"], name="auditentry_at_idx"),
            # the history of one object: filter by type and id, newest first
            models.Index(fields=["object_type", "object_id", "-at"], name="auditentry_object_idx"),
            # what one person changed
            models.Index(fields=["actor", "-at"], name="auditentry_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name or '-'} {self.action} {self.object_type} {self.object_id}"
