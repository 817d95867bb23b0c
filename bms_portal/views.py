"""Project-level views: health check."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 otherwise (for load balancers and monitors)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)
    from bms_portal.models import WorkerHeartbeat

    workers = {hb.queue: hb.seen_at.isoformat() for hb in WorkerHeartbeat.objects.order_by("queue")}
    return JsonResponse({"status": "ok", "database": "ok", "workers_last_seen": workers})
