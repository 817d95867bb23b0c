"""Loading what one batch's evaluation needs, in a constant number of queries.

The batch names a gateway and the batteries/banks it carried; the evaluation looks at every
in-service battery of the banks touched (the bank mean of a deviation rule moves when one battery
moves, and report-by-exception means the batch carries only the batteries that changed) with their
latest values from the latest tables, not from the batch itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from alarms.choices import OPEN_STATES, RuleKind
from alarms.thresholds import CELL_VOLTS
from sites.choices import BatteryStatus


@dataclass(slots=True)
class BatteryCtx:
    id: int
    bank_id: int
    site_id: int
    model_id: int
    chemistry: str
    cells: float
    capacity_ah: float
    baseline: float | None
    ts: dt.datetime | None
    voltage: float | None
    temperature: float | None
    dcr: float | None
    micro_voltage: float | None
    emf: float | None
    status: int | None
    position: int = 0
    model_name: str = ""
    # filled from the bank
    ambient: float | None = None
    current: float | None = None
    mean_voltage: float | None = None
    mean_temperature: float | None = None
    bank_size: int = 0


@dataclass(slots=True)
class BankCtx:
    id: int
    site_id: int
    model_id: int | None
    chemistry: str
    cells: float
    capacity_ah: float
    has_cmu: bool
    ts: dt.datetime | None
    string_voltage: float | None
    current: float | None
    ambient: float | None
    status: int | None
    site_name: str = ""
    name: str = ""
    batteries: list[BatteryCtx] = field(default_factory=list)


@dataclass(slots=True)
class GatewayCtx:
    id: int
    site_id: int
    scan_interval_s: int
    heartbeat_s: int


@dataclass(slots=True)
class OpenAlarm:
    id: int
    kind: str
    object_id: int
    state: str
    severity: str
    raised_at: dt.datetime
    cleared_at: dt.datetime | None


_BATTERIES_SQL = f"""
SELECT b.id, b.bank_id, k.site_id, b.model_id, m.chemistry, m.nominal_voltage, m.capacity_ah,
       b.dcr_baseline_mohm, l.ts, l.voltage, l.temperature, l.dcr, l.micro_voltage, l.emf, l.status,
       b.position, m.manufacturer || ' ' || m.model
FROM sites_battery b
JOIN sites_bank k ON k.id = b.bank_id
JOIN sites_batterymodel m ON m.id = b.model_id
LEFT JOIN acquisition_latestreading l ON l.battery_id = b.id
WHERE b.status = '{BatteryStatus.IN_SERVICE.value}'
  AND b.bank_id IN (SELECT bank_id FROM sites_battery WHERE id = ANY(%(batteries)s)
                    UNION SELECT unnest(%(banks)s::bigint[]))
"""  # noqa: S608 - a constant

_BANKS_SQL = """
SELECT k.id, k.site_id, k.battery_model_id, m.chemistry, m.capacity_ah, k.nominal_voltage,
       k.cmu_address IS NOT NULL, lb.ts, lb.string_voltage, lb.current, lb.ambient, lb.status,
       s.name, k.name
FROM sites_bank k
JOIN sites_site s ON s.id = k.site_id
LEFT JOIN sites_batterymodel m ON m.id = k.battery_model_id
LEFT JOIN acquisition_latestbankreading lb ON lb.bank_id = k.id
WHERE k.id IN (SELECT bank_id FROM sites_battery WHERE id = ANY(%(batteries)s)
               UNION SELECT unnest(%(banks)s::bigint[]))
"""

_GATEWAY_SQL = "SELECT id, site_id, scan_interval_s, heartbeat_s FROM sites_gateway WHERE id = %s"


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def load_fleet(
    gateway_id: int, battery_ids: list[int], bank_ids: list[int]
) -> tuple[GatewayCtx | None, dict[int, BankCtx], dict[int, BatteryCtx]]:
    """The gateway, the touched banks and all their in-service batteries (three queries)."""
    params = {"batteries": battery_ids, "banks": bank_ids}
    with connection.cursor() as cursor:
        cursor.execute(_GATEWAY_SQL, [gateway_id])
        row = cursor.fetchone()
        gateway = GatewayCtx(*row) if row else None
        cursor.execute(_BANKS_SQL, params)
        bank_rows = cursor.fetchall()
        cursor.execute(_BATTERIES_SQL, params)
        battery_rows = cursor.fetchall()
    batteries: dict[int, BatteryCtx] = {}
    for r in battery_rows:
        chem = r[4]
        batteries[r[0]] = BatteryCtx(
            id=r[0],
            bank_id=r[1],
            site_id=r[2],
            model_id=r[3],
            chemistry=chem,
            cells=float(r[5]) / CELL_VOLTS.get(chem, 2.0),
            capacity_ah=float(r[6]),
            baseline=_f(r[7]),
            ts=r[8],
            voltage=r[9],
            temperature=r[10],
            dcr=r[11],
            micro_voltage=r[12],
            emf=r[13],
            status=r[14],
            position=r[15],
            model_name=r[16],
        )
    banks: dict[int, BankCtx] = {}
    for r in bank_rows:
        banks[r[0]] = BankCtx(
            id=r[0],
            site_id=r[1],
            model_id=r[2],
            chemistry=r[3] or "",
            cells=float(r[5]),  # nominal string voltage until the chemistry is known
            capacity_ah=_f(r[4]) or 0.0,
            has_cmu=r[6],
            ts=r[7],
            string_voltage=r[8],
            current=r[9],
            ambient=r[10],
            status=r[11],
            site_name=r[12],
            name=r[13],
        )
    for b in batteries.values():
        bank = banks.get(b.bank_id)
        if bank is not None:
            bank.batteries.append(b)
    for bank in banks.values():
        _complete_bank(bank)
    return gateway, banks, batteries


def level_labels(banks: dict[int, BankCtx]) -> dict[tuple[str, Any], str]:
    """Readable names of the threshold levels, for "where does this limit come from"."""
    labels: dict[tuple[str, Any], str] = {}
    for bank in banks.values():
        labels[("site", bank.site_id)] = f"site {bank.site_name}"
        labels[("bank", bank.id)] = f"bank {bank.name}"
        for b in bank.batteries:
            labels[("battery_model", b.model_id)] = f"battery model {b.model_name}"
            labels[("battery", b.id)] = f"battery #{b.position}"
    return labels


def _complete_bank(bank: BankCtx) -> None:
    """Bank chemistry/capacity from its model or first battery; means for the deviation rules."""
    first = bank.batteries[0] if bank.batteries else None
    if not bank.chemistry and first is not None:
        bank.chemistry, bank.model_id = first.chemistry, first.model_id
    if not bank.capacity_ah and first is not None:
        bank.capacity_ah = first.capacity_ah
    bank.cells = bank.cells / CELL_VOLTS.get(bank.chemistry, 2.0)
    volts = [b.voltage for b in bank.batteries if b.voltage is not None]
    temps = [b.temperature for b in bank.batteries if b.temperature is not None]
    mean_v = sum(volts) / len(volts) if volts else None
    mean_t = sum(temps) / len(temps) if temps else None
    for b in bank.batteries:
        b.ambient, b.current = bank.ambient, bank.current
        b.mean_voltage, b.mean_temperature = mean_v, mean_t
        b.bank_size = len(bank.batteries)


def load_open_alarms(
    object_ids: list[int], gateway_id: int, since_cleared: dt.datetime
) -> dict[tuple[str, int], OpenAlarm]:
    """Open alarms of these objects, plus discharge alarms cleared recently (recovery window).

    Object ids of batteries and banks can collide; the kind tells them apart (a kind has one scope).
    """
    sql = (
        "SELECT id, kind, object_id, state, severity, raised_at, cleared_at FROM alarms_alarm "
        "WHERE (state = ANY(%(open)s) AND (object_id = ANY(%(ids)s) "
        "       OR (kind = %(gw_kind)s AND object_id = %(gw)s))) "
        "   OR (kind = %(discharge)s AND object_id = ANY(%(ids)s) AND cleared_at >= %(since)s)"
    )
    params = {
        "open": [s.value for s in OPEN_STATES],
        "ids": object_ids,
        "gw_kind": RuleKind.COMM_LOST_GATEWAY.value,
        "gw": gateway_id,
        "discharge": RuleKind.DISCHARGE.value,
        "since": since_cleared,
    }
    out: dict[tuple[str, int], OpenAlarm] = {}
    recent_discharges: dict[tuple[str, int], OpenAlarm] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            alarm = OpenAlarm(*row)
            if alarm.state in OPEN_STATES:
                out[(alarm.kind, alarm.object_id)] = alarm
            else:
                recent_discharges[("recent_discharge", alarm.object_id)] = alarm
    out.update(recent_discharges)
    return out


def load_maintenance(site_ids: list[int], now: dt.datetime) -> list[tuple[int, int | None, bool]]:
    """Windows open now on these sites: (site, bank or None, suppress_alarms)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT site_id, bank_id, suppress_alarms FROM alarms_maintenancewindow "
            "WHERE site_id = ANY(%s) AND starts_at <= %s AND ends_at > %s",
            [site_ids, now, now],
        )
        return cursor.fetchall()
