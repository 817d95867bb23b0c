"""Who is told about alarms, and a record of every message and every attempt to deliver it.

A ``Notification`` is one message to one target (an e-mail address or a webhook URL) listing one or
more alarms; each delivery try is a ``NotificationAttempt`` row (status, error, duration), so a
failed e-mail is visible in the admin and retried, never silently lost.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from alarms.choices import (
    AttemptStatus,
    Channel,
    DeliveryStatus,
    MessageKind,
    Severity,
    SubscriptionRole,
)
from alarms.models.alarms import Alarm
from sites.models import Site, SiteScopedQuerySet


class SubscriptionQuerySet(SiteScopedQuerySet):
    def enabled(self) -> SubscriptionQuerySet:
        return self.filter(active=True)


class Subscription(models.Model):
    """A site's contact: a portal user, an outside e-mail address, or a webhook URL."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="alarm_subscriptions")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alarm_subscriptions",
        help_text="E-mail: a portal user (their address), or leave empty and give an address.",
    )
    email = models.EmailField(blank=True)
    webhook_url = models.URLField(blank=True, max_length=500)
    secret = models.CharField(
        max_length=128, blank=True, help_text="Webhook: HMAC-SHA256 key of the signature header."
    )
    role = models.CharField(
        max_length=12, choices=SubscriptionRole.choices, default=SubscriptionRole.PRIMARY
    )
    min_severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.WARNING
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["site", "role", "id"]
        constraints = [
            models.CheckConstraint(
                name="subscription_target_matches_channel",
                condition=Q(channel=Channel.EMAIL, webhook_url="")
                & (Q(user__isnull=False) | ~Q(email=""))
                | Q(channel=Channel.WEBHOOK, user__isnull=True, email="") & ~Q(webhook_url=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.site}: {self.target} ({self.get_role_display()})"

    @property
    def target(self) -> str:
        if self.channel == Channel.WEBHOOK:
            return self.webhook_url
        if self.user_id and not self.email:
            return self.user.email
        return self.email

    def clean(self) -> None:
        if self.channel == Channel.EMAIL and not (self.user_id or self.email):
            raise ValidationError("An e-mail subscription needs a user or an address.")
        if self.channel == Channel.WEBHOOK and not self.webhook_url:
            raise ValidationError({"webhook_url": "A webhook subscription needs a URL."})


class PendingNotification(models.Model):
    """A site has new alarms to announce at ``due_at`` (the debounce window).

    Alarms raised while a row exists join the same message. The sender claims the row with
    ``DELETE ... WHERE due_at <= now RETURNING``, so exactly one worker sends the message.
    """

    site = models.OneToOneField(Site, on_delete=models.CASCADE, primary_key=True, related_name="+")
    due_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"site {self.site_id} due {self.due_at:%H:%M:%S}"


class NotificationQuerySet(SiteScopedQuerySet):
    def due(self, now: Any) -> NotificationQuerySet:
        return self.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRY], next_attempt_at__lte=now
        )


class Notification(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="alarm_notifications")
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    kind = models.CharField(max_length=12, choices=MessageKind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=500)
    subject = models.CharField(max_length=250)
    body = models.TextField()
    payload = models.JSONField(default=dict)
    alarms = models.ManyToManyField(Alarm, related_name="notifications", blank=True)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the retry sweep: messages waiting for (another) attempt
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(
                    status__in=[
                        DeliveryStatus.PENDING,
                        DeliveryStatus.RETRY,
                        DeliveryStatus.SENDING,
                    ]
                ),
                name="notification_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.target} ({self.status})"


class NotificationAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="attempt_rows"
    )
    number = models.PositiveSmallIntegerField()
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=500)
    status = models.CharField(max_length=8, choices=AttemptStatus.choices)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()
    started_at = models.DateTimeField()

    class Meta:
        ordering = ["notification", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "number"], name="notificationattempt_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.notification_id}: {self.status}"
