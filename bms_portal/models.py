"""Project-level models: worker heartbeats, so operators can see that each queue is served."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time a worker of a queue ran the heartbeat task (scheduled by beat every minute)."""

    queue = models.CharField(max_length=40, primary_key=True)
    hostname = models.CharField(max_length=255)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.queue} @ {self.hostname} {self.seen_at:%Y-%m-%d %H:%M:%S}"
