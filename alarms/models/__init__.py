"""Models of the alarms app, one module per concern (thresholds, alarms, notifications)."""

from alarms.models.alarms import Alarm, AlarmQuerySet
from alarms.models.notifications import (
    Notification,
    NotificationAttempt,
    PendingNotification,
    Subscription,
)
from alarms.models.thresholds import MaintenanceWindow, RelayMapping, Threshold

__all__ = [
    "Alarm",
    "AlarmQuerySet",
    "MaintenanceWindow",
    "Notification",
    "NotificationAttempt",
    "PendingNotification",
    "RelayMapping",
    "Subscription",
    "Threshold",
]
