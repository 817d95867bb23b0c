"""Status roll-up for other pages: battery -> bank -> site -> fleet, one query per call.

Each raised alarm (active or acknowledged; pending and cleared ones do not count) maps to a status:
communication loss of the object itself or of what it hangs on (a battery's BMU, a bank's CMU, the
site's gateway) is ``offline``; otherwise a critical alarm is ``alarm`` and a warning is
``warning``. The worst wins, in the order ok < warning < offline < alarm: a critical condition we
*can* see matters more than one we cannot.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from alarms.choices import RAISED_STATES, RuleKind, Status

ORDER = {Status.OK: 0, Status.WARNING: 1, Status.OFFLINE: 2, Status.ALARM: 3}
_RAISED = [s.value for s in RAISED_STATES]

_CASE = """CASE WHEN a.id IS NULL THEN 0
    WHEN a.kind = ANY(%(offline)s) THEN 2
    WHEN a.severity = 'critical' THEN 3 ELSE 1 END"""

_SITES = f"""
SELECT s.id, COALESCE(max({_CASE}), 0)
FROM unnest(%(ids)s::bigint[]) AS s(id)
LEFT JOIN alarms_alarm a ON a.site_id = s.id AND a.state = ANY(%(raised)s)
GROUP BY s.id
"""  # noqa: S608 - constants only

_BANKS = f"""
SELECT k.id, COALESCE(max({_CASE}), 0)
FROM sites_bank k
LEFT JOIN alarms_alarm a ON a.state = ANY(%(raised)s) AND (
    a.bank_id = k.id OR (a.kind = 'comm_lost_gateway' AND a.gateway_id IN (
        SELECT bus.gateway_id FROM sites_bus bus WHERE bus.id = k.bus_id)))
WHERE k.id = ANY(%(ids)s)
GROUP BY k.id
"""  # noqa: S608

_BATTERIES = f"""
SELECT b.id, COALESCE(max({_CASE}), 0)
FROM sites_battery b
LEFT JOIN sites_bus bus ON bus.id = b.bus_id
LEFT JOIN alarms_alarm a ON a.state = ANY(%(raised)s) AND (
    a.battery_id = b.id
    OR (a.kind = 'comm_lost_cmu' AND a.bank_id = b.bank_id)
    OR (a.kind = 'comm_lost_gateway' AND a.gateway_id = bus.gateway_id))
WHERE b.id = ANY(%(ids)s)
GROUP BY b.id
"""  # noqa: S608

_LEVELS = {0: Status.OK, 1: Status.WARNING, 2: Status.OFFLINE, 3: Status.ALARM}


def _run(sql: str, ids: Iterable[int], offline: list[str]) -> dict[int, Status]:
    id_list = sorted(set(ids))
    if not id_list:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": id_list, "raised": _RAISED, "offline": offline})
        return {pk: _LEVELS[level] for pk, level in cursor.fetchall()}


def site_statuses(site_ids: Iterable[int]) -> dict[int, Status]:
    """{site id: status}; a site is offline when one of its gateways is silent."""
    return _run(_SITES, site_ids, [RuleKind.COMM_LOST_GATEWAY])


def bank_statuses(bank_ids: Iterable[int]) -> dict[int, Status]:
    """{bank id: status} over the bank's own alarms and its batteries'; offline: CMU or gateway."""
    return _run(_BANKS, bank_ids, [RuleKind.COMM_LOST_CMU, RuleKind.COMM_LOST_GATEWAY])


def battery_statuses(battery_ids: Iterable[int]) -> dict[int, Status]:
    """{battery id: status}; offline when its BMU, its bank's CMU or its gateway is silent."""
    offline = [RuleKind.COMM_LOST_UNIT, RuleKind.COMM_LOST_CMU, RuleKind.COMM_LOST_GATEWAY]
    return _run(_BATTERIES, battery_ids, offline)


def worst(statuses: Iterable[Status]) -> Status:
    """The fleet's status: the worst of its sites' (``worst(site_statuses(ids).values())``)."""
    return max(statuses, key=lambda s: ORDER[s], default=Status.OK)
