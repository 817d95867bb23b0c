"""Dry-contact relays: what each gateway's four relays should hold, for the ingest reply.

A relay follows its condition over the *site's* raised alarms (active or acknowledged: the
building's alarm panel keeps showing a condition that is still there even when someone owns it).
One query, on the ingest hot path. The agent applies the states and reports back what the module
acknowledged as ``agent.relays`` (stored in ``Gateway.agent_state``); ``relay_panel`` shows both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from acquisition.registermap import RELAY_COUNT
from alarms.choices import COMM_LOST_KINDS, RAISED_STATES, RelayCondition, RuleKind
from alarms.models import RelayMapping

_SQL = """
SELECT m.relay_1, m.relay_2, m.relay_3, m.relay_4, f.crit, f.anyone, f.comm, f.runaway
FROM (SELECT COALESCE(bool_or(severity = 'critical'), false) AS crit,
             count(*) > 0 AS anyone,
             COALESCE(bool_or(kind = ANY(%s)), false) AS comm,
             COALESCE(bool_or(kind = %s), false) AS runaway
      FROM alarms_alarm WHERE site_id = %s AND state = ANY(%s)) f
LEFT JOIN alarms_relaymapping m ON m.gateway_id = %s
"""
_COMM = [k.value for k in COMM_LOST_KINDS]
_RAISED = [s.value for s in RAISED_STATES]


def relay_query(site_id: int, gateway_id: int) -> tuple[str, list[Any]]:
    """The one query behind the relay states (the ingest sends it with its other statements);
    ``relay_states_from`` reads its row."""
    return _SQL, [_COMM, RuleKind.THERMAL_RUNAWAY.value, site_id, _RAISED, gateway_id]


def _facts(row: tuple) -> tuple[tuple[str, ...], dict[str, bool]]:
    mapping = tuple(row[:4]) if row[0] is not None else tuple(RelayMapping.DEFAULT_RELAYS)
    facts = {
        RelayCondition.NONE: False,
        RelayCondition.ANY_CRITICAL: row[4],
        RelayCondition.ANY_WARNING: row[5],
        RelayCondition.COMM_LOST: row[6],
        RelayCondition.THERMAL_RUNAWAY: row[7],
    }
    return mapping, facts


def _states(site_id: int, gateway_id: int) -> tuple[tuple[str, ...], dict[str, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(*relay_query(site_id, gateway_id))
        return _facts(cursor.fetchone())


def _coils(mapping: tuple[str, ...], facts: dict[str, bool]) -> list[bool]:
    return [bool(facts.get(condition, False)) for condition in mapping][:RELAY_COUNT]


def relay_states_from(row: tuple) -> list[bool]:
    """The four coil states (True = energised) from the row of ``relay_query``."""
    return _coils(*_facts(row))


def relay_states(gateway: Any) -> list[bool]:
    """The four coil states for ``gateway`` (True = energised). One query."""
    return _coils(*_states(gateway.site_id, gateway.pk))


@dataclass(slots=True)
class RelayRow:
    number: int
    condition: str
    commanded: bool
    reported: bool | None


def relay_panel(gateway: Any) -> list[RelayRow]:
    """Per relay: its condition, the state the portal asks for and the state the agent reported."""
    mapping, facts = _states(gateway.site_id, gateway.pk)
    reported = (gateway.agent_state or {}).get("relays")
    rows = []
    for i, condition in enumerate(mapping[:RELAY_COUNT]):
        rep = reported[i] if isinstance(reported, list) and i < len(reported) else None
        rows.append(
            RelayRow(i + 1, RelayCondition(condition).label, bool(facts.get(condition)), rep)
        )
    return rows
