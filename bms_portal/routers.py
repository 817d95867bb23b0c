"""Reads of pages and reports from a PostgreSQL read replica, when one is configured.

With ``DATABASE_REPLICA_URL`` set, settings add a ``replica`` database. ``ReplicaReadsMiddleware``
marks the requests that may read from it: ``GET``/``HEAD`` of the URL namespaces listed in
``DATABASE_REPLICA_NAMESPACES`` (the fleet pages, exports, reports) and Dash's chart callbacks,
which only read. While a marked request runs (its streamed body included), ``ReplicaRouter``
sends reads of the fleet's data (apps ``sites``, ``acquisition``, ``alarms``, ``forecasting``)
to the replica. Everything else - writes, sessions and users, the admin, the API, the ingest,
Celery tasks - stays on the primary, so a lagging replica never loses a login or a write.

Without a replica the router answers ``None`` everywhere (Django's default: the primary).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

REPLICA = "replica"
#: Apps whose tables a marked request reads from the replica.
REPLICA_APPS = frozenset({"sites", "acquisition", "alarms", "forecasting"})
#: URL namespaces whose POSTs only read (Dash chart callbacks).
READ_ONLY_POST_NAMESPACES = frozenset({"the_django_plotly_dash"})

_use_replica: ContextVar[bool] = ContextVar("bms_use_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within the block, reads of the fleet's data go to the replica (if configured): for a
    report task or command that only reads."""
    token = _use_replica.set(True)
    try:
        yield
    finally:
        _use_replica.reset(token)


class ReplicaRouter:
    """Database router: replica for marked reads, primary for everything else."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        if _use_replica.get() and model._meta.app_label in REPLICA_APPS and replica_configured():
            return REPLICA
        return None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        return True  # the replica holds the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != REPLICA  # a physical replica follows the primary's schema


def _streamed(content: Iterator[bytes]) -> Iterator[bytes]:
    with replica_reads():
        yield from content


class ReplicaReadsMiddleware:
    """Marks page and report reads for the replica (see the module docstring). The mark is set
    when the view is resolved and dropped when the response is done (after a streamed body)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.namespaces = frozenset(getattr(settings, "DATABASE_REPLICA_NAMESPACES", ()))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        finally:
            marked = getattr(request, "_replica_token", None)
            if marked is not None:
                _use_replica.reset(marked)
        if marked is not None and isinstance(response, StreamingHttpResponse):
            response.streaming_content = _streamed(iter(response.streaming_content))
        return response

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        if not replica_configured() or request.resolver_match is None:
            return
        namespace = request.resolver_match.namespace
        reads_only = request.method in ("GET", "HEAD") and namespace in self.namespaces
        if reads_only or namespace in READ_ONLY_POST_NAMESPACES:
            request._replica_token = _use_replica.set(True)  # type: ignore[attr-defined]
