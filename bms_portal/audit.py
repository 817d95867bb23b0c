"""The audit log: who changed users, site memberships, gateways, thresholds and alarm rules.

Explicit, no signals: the admin classes of those models use ``AuditedAdminMixin``; domain actions
that change them call ``record()`` or wrap the change in ``tracking()``::

    with audit.tracking(gateway, actor=request.user, request=request, source="admin action"):
        actions.rotate_gateway_token(gateway)

Each change is one ``AuditEntry`` row written in the caller's transaction (the admin's change view
is atomic, so a rolled-back change leaves no entry). ``before`` / ``after`` hold only the fields
that changed (the whole object for a creation or deletion), as JSON; secrets are replaced by a
short fingerprint so a change is visible without storing the secret (or its hash).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.http import HttpRequest

from bms_portal.choices import AuditAction
from bms_portal.models import AuditEntry
from bms_portal.security import client_ip

#: Fields never stored in clear: only a fingerprint that changes when they change.
SECRET_FIELDS = frozenset({"password", "token_hash", "key_hash", "secret"})
#: Fields that change on their own (logins, agent uploads): not worth an audit line.
VOLATILE_FIELDS = {
    "auth.user": frozenset({"last_login"}),
    "sites.gateway": frozenset({"last_seen_at", "agent_state"}),
    "alarms.threshold": frozenset({"updated_at"}),
}
Snapshot = dict[str, Any]


def object_type(obj: Model | type[Model]) -> str:
    """``app_label.model`` of a model instance or class."""
    return obj._meta.label_lower


def _fingerprint(value: Any) -> str:
    if not value:
        return ""
    return "<redacted " + hashlib.sha256(str(value).encode()).hexdigest()[:8] + ">"


def snapshot(obj: Model) -> Snapshot:
    """The object's concrete and many-to-many field values as JSON-safe data.

    Foreign keys are stored as ids, many-to-many fields as sorted id lists (one query each, only
    for models that have them, e.g. a user's groups).
    """
    volatile = VOLATILE_FIELDS.get(object_type(obj), frozenset())
    data: Snapshot = {}
    for field in obj._meta.concrete_fields:
        if field.name in volatile:
            continue
        value = field.value_from_object(obj)
        data[field.attname] = _fingerprint(value) if field.name in SECRET_FIELDS else value
    if obj.pk is not None:
        for m2m in obj._meta.many_to_many:
            data[m2m.name] = sorted(getattr(obj, m2m.name).values_list("pk", flat=True))
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def snapshot_from_db(obj: Model) -> Snapshot | None:
    """The stored state of ``obj`` (None when it is not stored)."""
    if obj.pk is None:
        return None
    stored = type(obj)._default_manager.filter(pk=obj.pk).first()
    return snapshot(stored) if stored is not None else None


def diff(before: Snapshot, after: Snapshot) -> tuple[Snapshot, Snapshot]:
    """Only the fields whose values differ: (old values, new values)."""
    keys = [k for k in after.keys() | before.keys() if before.get(k) != after.get(k)]
    keys.sort()
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def record(
    obj: Model,
    action: str,
    *,
    before: Snapshot | None = None,
    after: Snapshot | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
    source: str = "",
) -> AuditEntry | None:
    """Write one entry. For a change, only the differing fields are kept; no difference, no row."""
    if action == AuditAction.CHANGE:
        before, after = diff(before or {}, after or {})
        if not after:
            return None
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    pk = obj.pk if obj.pk is not None else (before or {}).get(obj._meta.pk.attname)
    return AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username() if user is not None else "",
        action=action,
        object_type=object_type(obj),
        object_id=str(pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
        ip=client_ip(request) if request is not None else None,
        source=source[:40],
    )


@contextmanager
def tracking(
    obj: Model, *, actor: Any = None, request: HttpRequest | None = None, source: str = ""
) -> Iterator[None]:
    """Audit whatever the block changes in ``obj`` (re-read from the database before and after,
    so ``QuerySet.update()`` inside the block is seen too)."""
    before = snapshot_from_db(obj)
    yield
    after = snapshot_from_db(obj)
    if before is None and after is not None:
        record(obj, AuditAction.CREATE, after=after, actor=actor, request=request, source=source)
    elif before is not None and after is None:
        record(obj, AuditAction.DELETE, before=before, actor=actor, request=request, source=source)
    elif before is not None and after is not None:
        record(
            obj,
            AuditAction.CHANGE,
            before=before,
            after=after,
            actor=actor,
            request=request,
            source=source,
        )


class AuditedAdminMixin:
    """ModelAdmin mixin: audit additions, changes and deletions of the object and of the audited
    models edited inline (site memberships in the site's page). Put it first in the bases."""

    #: Inline models audited when edited in this admin, as ``app_label.model``.
    audited_inlines: frozenset[str] = frozenset(
        {"sites.sitemembership", "sites.gateway", "alarms.threshold"}
    )

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        before = snapshot_from_db(obj) if change else None
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        # written in save_related(), once many-to-many fields (a user's groups) are saved too
        request._audit_pending = (obj, before)  # type: ignore[attr-defined]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        pending = getattr(request, "_audit_pending", None)
        if pending is None:
            return
        del request._audit_pending  # type: ignore[attr-defined]
        obj, before = pending
        after = snapshot(obj)
        if before is None:
            record(obj, AuditAction.CREATE, after=after, request=request, source="admin")
        else:
            record(
                obj, AuditAction.CHANGE, before=before, after=after, request=request, source="admin"
            )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if object_type(formset.model) not in self.audited_inlines:
            super().save_formset(request, form, formset, change)  # type: ignore[misc]
            return
        changed_pks = [f.instance.pk for f in formset.initial_forms if f.has_changed()]
        old = {o.pk: snapshot(o) for o in formset.model._default_manager.filter(pk__in=changed_pks)}
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        for obj in formset.new_objects:
            record(obj, AuditAction.CREATE, after=snapshot(obj), request=request, source="admin")
        for obj, _fields in formset.changed_objects:
            record(
                obj,
                AuditAction.CHANGE,
                before=old.get(obj.pk, {}),
                after=snapshot(obj),
                request=request,
                source="admin",
            )
        for obj in formset.deleted_objects:
            before = old.get(obj.pk) or snapshot(obj)
            record(obj, AuditAction.DELETE, before=before, request=request, source="admin")

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        before = snapshot(obj)
        super().delete_model(request, obj)  # type: ignore[misc]
        record(obj, AuditAction.DELETE, before=before, request=request, source="admin")

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        doomed = [(obj, snapshot(obj)) for obj in queryset]
        super().delete_queryset(request, queryset)  # type: ignore[misc]
        for obj, before in doomed:
            record(obj, AuditAction.DELETE, before=before, request=request, source="admin")
