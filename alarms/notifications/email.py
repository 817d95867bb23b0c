"""E-mail channel: Django's mail API, so the backend is a setting.

With ``ANYMAIL_PROVIDER`` set, django-anymail sends through that provider's API (Mailgun, SendGrid,
Postmark, Amazon SES ...); with ``EMAIL_HOST`` set, plain SMTP for self-hosting. An exception from
the backend (connection refused, 4xx/5xx from the server or the provider) is a failed attempt.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from alarms.models import Notification


def send(notification: Notification) -> None:
    message = EmailMessage(
        subject=notification.subject,
        body=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.target],
        headers={"X-BMS-Notification": str(notification.pk)},
        connection=get_connection(fail_silently=False),
    )
    if message.send() != 1:
        raise RuntimeError("the e-mail backend accepted no message")
