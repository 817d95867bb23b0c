"""``GET /metrics``: the portal's state in the Prometheus text format (written by hand, no client
library: every value is read from PostgreSQL or Redis at scrape time, so any number of gunicorn
workers and web nodes report the same figures).

Allowed from loopback without a proxy header (a Prometheus on the same host scraping gunicorn
directly) or with ``Authorization: Bearer <METRICS_TOKEN>``; nginx refuses ``/metrics`` from
outside (deploy/nginx.conf). Seven SQL queries and one Redis round trip per scrape, whatever the
fleet size. What each series means: docs/operations.md, "Monitoring".
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Celery queues (settings.CELERY_TASK_ROUTES and the default queue).
QUEUES = ("alarms", "default", "forecasting")
#: kombu's Redis transport keeps messages of priority p > 0 in "<queue>\x06\x16<p>".
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
#: Readings counted per daily partition over this many recent days (late outbox data included).
INGEST_DAYS = 7
LATENCY_QUANTILES = (0.5, 0.9, 0.99)


class Exposition:
    """Collects series and renders them in the Prometheus text format (version 0.0.4)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[dict[str, Any], float | int | None]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if value is None:
                continue
            self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    parts = []
    for key, value in labels.items():
        text = str(value).replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
        parts.append(f'{key}="{text}"')
    return "{" + ",".join(parts) + "}"


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


# -- access ----------------------------------------------------------------------------------------


def allowed(request: HttpRequest) -> bool:
    """Bearer ``METRICS_TOKEN``, or a direct connection from loopback (no proxy in between)."""
    token: str = getattr(settings, "METRICS_TOKEN", "")
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if token and auth.startswith("Bearer "):
        return hmac.compare_digest(auth[7:].strip().encode(), token.encode())
    if not getattr(settings, "METRICS_ALLOW_LOOPBACK", True):
        return False
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_X_REAL_IP" in request.META:
        return False  # came through a proxy: REMOTE_ADDR is the proxy's loopback address
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


# -- collectors: each one query (or one Redis pipeline) ----------------------------------------


def ingest_counters(out: Exposition, today: dt.date) -> None:
    """Rows inserted into each recent daily partition (PostgreSQL's own per-table counter)."""
    names = {}
    for back in range(-1, INGEST_DAYS):
        day = today - dt.timedelta(days=back)
        for table, kind in (
            ("acquisition_reading", "battery"),
            ("acquisition_bankreading", "bank"),
        ):
            names[f"{table}_p{day:%Y%m%d}"] = (kind, day.isoformat())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(names)],
        )
        rows = cursor.fetchall()
    out.family(
        "bms_ingest_readings_total",
        "counter",
        "Readings stored, per kind and daily partition (UTC day of the reading); "
        "sum(rate(...)) is the ingest rate.",
        (({"kind": names[n][0], "day": names[n][1]}, int(v)) for n, v in sorted(rows)),
    )


def rejections(out: Exposition) -> None:
    from acquisition.models import IngestRejection

    rows = IngestRejection.objects.values("reason").annotate(n=Sum("count")).order_by("reason")
    out.family(
        "bms_ingest_rejected_total",
        "counter",
        "Readings (or single values) the ingest rejected, by reason.",
        (({"reason": r["reason"]}, int(r["n"] or 0)) for r in rows),
    )


def alarm_latency(out: Exposition, now: dt.datetime) -> None:
    """Reading timestamp -> alarm active, minus the rule's own delay, over the last hour."""
    from alarms.choices import COMM_LOST_KINDS, RuleKind

    excluded = [str(k) for k in (*COMM_LOST_KINDS, RuleKind.FORECAST_RUL)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(l), 0), max(l), "
            "percentile_cont(%(q)s::float8[]) WITHIN GROUP (ORDER BY l) FROM ("
            "  SELECT greatest(extract(epoch FROM activated_at - raised_at) - delay_s, 0) AS l"
            "  FROM alarms_alarm WHERE activated_at >= %(since)s AND kind <> ALL(%(excluded)s)"
            ") t",
            {
                "q": list(LATENCY_QUANTILES),
                "since": now - dt.timedelta(hours=1),
                "excluded": excluded,
            },
        )
        count, total, worst, quantiles = cursor.fetchone()
    help_text = (
        "Seconds from the reading that crossed a threshold to the alarm being active "
        "(rule delay excluded), alarms activated in the last hour."
    )
    samples = [
        ({"quantile": str(q)}, v) for q, v in zip(LATENCY_QUANTILES, quantiles or (), strict=False)
    ]
    out.family("bms_alarm_latency_seconds", "summary", help_text, samples)
    out.lines.append(f"bms_alarm_latency_seconds_count {int(count)}")
    out.lines.append(f"bms_alarm_latency_seconds_sum {_number(float(total))}")
    out.family(
        "bms_alarm_latency_max_seconds",
        "gauge",
        "Largest alarm latency in the last hour.",
        [({}, None if worst is None else float(worst))],
    )


def notifications(out: Exposition) -> None:
    from alarms.models import Notification, NotificationAttempt

    by_status = Notification.objects.values("status").annotate(n=Count("id")).order_by("status")
    out.family(
        "bms_notifications",
        "gauge",
        "Alarm messages by delivery status (failed: all attempts used).",
        (({"status": r["status"]}, r["n"]) for r in by_status),
    )
    attempts = (
        NotificationAttempt.objects.values("channel", "status")
        .annotate(n=Count("id"))
        .order_by("channel", "status")
    )
    out.family(
        "bms_notification_attempts_total",
        "counter",
        "Delivery attempts of alarm messages by channel and result (error: failed attempt).",
        (({"channel": r["channel"], "status": r["status"]}, r["n"]) for r in attempts),
    )


def agents(out: Exposition, now: dt.datetime) -> None:
    from sites.models import Gateway

    rows = Gateway.objects.filter(revoked_at__isnull=True).values_list(
        "pk", "name", "site__slug", "last_seen_at", "agent_state__outbox_depth"
    )
    ages, depths, never = [], [], 0
    for pk, name, site, seen, depth in rows.order_by("pk"):
        labels = {"gateway": pk, "name": name, "site": site}
        if seen is None:
            never += 1
            continue
        ages.append((labels, round((now - seen).total_seconds(), 3)))
        if isinstance(depth, int | float):
            depths.append((labels, int(depth)))
    out.family(
        "bms_agent_last_seen_age_seconds",
        "gauge",
        "Seconds since each gateway's edge agent last sent a request.",
        ages,
    )
    out.family(
        "bms_agent_outbox_depth",
        "gauge",
        "Scans waiting in each agent's local outbox, as it last reported.",
        depths,
    )
    out.family(
        "bms_agents_never_seen", "gauge", "Gateways that never sent anything.", [({}, never)]
    )


def worker_heartbeats(out: Exposition, now: dt.datetime) -> None:
    from bms_portal.models import WorkerHeartbeat

    rows = WorkerHeartbeat.objects.order_by("queue").values_list("queue", "seen_at")
    out.family(
        "bms_worker_heartbeat_age_seconds",
        "gauge",
        "Seconds since a worker of each queue last ran the heartbeat task (sent every 60 s).",
        (({"queue": q}, round((now - seen).total_seconds(), 3)) for q, seen in rows),
    )


def queue_depths(out: Exposition) -> None:
    """LLEN of every Celery queue (all priority lists) and the unacknowledged (running) tasks."""
    url: str = getattr(settings, "CELERY_BROKER_URL", "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return
    import redis

    depths: list[tuple[dict[str, Any], float | int | None]] = []
    up = 1
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(queue)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{queue}{_PRIORITY_SEP}{step}")
        pipe.hlen("unacked")
        results = pipe.execute()
        client.close()
        per_queue = 1 + len(_PRIORITY_STEPS)
        for i, queue in enumerate(QUEUES):
            depths.append(({"queue": queue}, sum(results[i * per_queue : (i + 1) * per_queue])))
        unacked: int | None = results[-1]
    except redis.RedisError as exc:
        log.warning("metrics: broker unreachable: %s", exc)
        up, unacked = 0, None
    out.family("bms_broker_up", "gauge", "1 when the Celery broker (Redis) answered.", [({}, up)])
    out.family("bms_queue_depth", "gauge", "Tasks waiting in each Celery queue.", depths)
    out.family(
        "bms_queue_unacked",
        "gauge",
        "Tasks taken by a worker and not yet acknowledged (late ack: running or lost).",
        [({}, unacked)],
    )


def collect(now: dt.datetime | None = None) -> str:
    """The whole exposition."""
    started = time.perf_counter()
    now = now or timezone.now()
    out = Exposition()
    ingest_counters(out, now.astimezone(dt.UTC).date())
    rejections(out)
    alarm_latency(out, now)
    notifications(out)
    agents(out, now)
    worker_heartbeats(out, now)
    queue_depths(out)
    out.family(
        "bms_metrics_scrape_seconds",
        "gauge",
        "Time this scrape took to collect.",
        [({}, round(time.perf_counter() - started, 6))],
    )
    return out.render()


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus endpoint (``/metrics``)."""
    if not allowed(request):
        return HttpResponse(
            "metrics: allowed from loopback or with the METRICS_TOKEN bearer token\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(collect(), content_type=CONTENT_TYPE)
