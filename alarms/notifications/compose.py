"""What a message says: subject, plain-text body and the webhook's JSON, for a list of alarms.

A message names, for every alarm, the site, bank and battery (position and serial), the value, the
threshold (and where it comes from) and a link to the object's page, so the person on call can act
without opening the portal first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alarms import conf
from alarms.choices import SEVERITY_RANK, MessageKind, RuleKind
from alarms.models import Alarm
from sites.models import Site

_PREFIX = {
    MessageKind.ALARM: "",
    MessageKind.REMINDER: "Reminder: ",
    MessageKind.ESCALATION: "ESCALATION: ",
}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "scans":
        return f"{value:g} scans"
    return f"{value:.3f}".rstrip("0").rstrip(".") + (f" {unit}" if unit else "")


def subject(kind: str, site: Site, alarms: Sequence[Alarm]) -> str:
    worst = max(alarms, key=lambda a: SEVERITY_RANK[a.severity])
    if len(alarms) == 1:
        what = f"{RuleKind(worst.kind).label} at {worst.subject_label}"
    else:
        what = f"{len(alarms)} alarms at {site.name}"
    return f"[BMS] {_PREFIX[MessageKind(kind)]}{worst.severity.upper()}: {what}"[:250]


def alarm_lines(alarm: Alarm) -> list[str]:
    base = conf.portal_url()
    lines = [f"{alarm.severity.upper()} - {RuleKind(alarm.kind).label}"]
    lines.append(f"  Site:      {alarm.site.name}")
    if alarm.bank_id:
        lines.append(f"  Bank:      {alarm.bank.name}")
    if alarm.battery_id:
        b = alarm.battery
        lines.append(f"  Battery:   #{b.position}, serial {b.serial or '-'}")
    if alarm.gateway_id:
        lines.append(f"  Gateway:   {alarm.gateway.name}")
    if alarm.value is not None:
        lines.append(f"  Value:     {_fmt(alarm.last_value or alarm.value, alarm.unit)}")
    source = f" ({alarm.threshold_source})" if alarm.threshold_source else ""
    lines.append(f"  Threshold: {_fmt(alarm.threshold, alarm.unit)}{source}")
    lines.append(f"  Since:     {alarm.raised_at:%Y-%m-%d %H:%M:%S} UTC ({alarm.state})")
    lines.append(f"  Link:      {base}{alarm.subject_path}")
    lines.append(f"  Alarm:     {base}{alarm.get_absolute_url()}")
    return lines


def body(kind: str, site: Site, alarms: Sequence[Alarm]) -> str:
    intro = {
        MessageKind.ALARM: f"New alarms at {site.name}:",
        MessageKind.REMINDER: f"These alarms at {site.name} are still not acknowledged:",
        MessageKind.ESCALATION: (
            f"These alarms at {site.name} have not been acknowledged by the primary contacts:"
        ),
    }[MessageKind(kind)]
    parts = [intro, ""]
    for alarm in alarms:
        parts.extend(alarm_lines(alarm))
        parts.append("")
    parts.append(f"Acknowledge them at {conf.portal_url()}/alarms/?site={site.pk}")
    return "\n".join(parts)


def payload(kind: str, site: Site, alarms: Sequence[Alarm]) -> dict[str, Any]:
    base = conf.portal_url()
    return {
        "event": kind,
        "site": {"id": site.pk, "slug": site.slug, "name": site.name},
        "alarms": [
            {
                "id": a.pk,
                "kind": a.kind,
                "severity": a.severity,
                "state": a.state,
                "bank": {"id": a.bank_id, "name": a.bank.name} if a.bank_id else None,
                "battery": (
                    {"id": a.battery_id, "position": a.battery.position, "serial": a.battery.serial}
                    if a.battery_id
                    else None
                ),
                "gateway": a.gateway_id,
                "value": a.last_value if a.last_value is not None else a.value,
                "threshold": a.threshold,
                "unit": a.unit,
                "threshold_source": a.threshold_source,
                "raised_at": a.raised_at.isoformat(),
                "url": f"{base}{a.subject_path}",
                "alarm_url": f"{base}{a.get_absolute_url()}",
            }
            for a in alarms
        ],
    }
