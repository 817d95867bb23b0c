"""``manage.py simulate_history --site SLUG --scenario FILE [--days N]``: accelerated ageing.

Runs the site's simulator scenario over the ``--days`` before now (``simulator.history``:
the same physics, units and faults the live simulator serves) and stores what the BMUs measured as
hourly rollups (one sample every ``--step-hours``) and the daily rollups computed from them. The
history ends at the start of today (UTC), where the live simulator and agent take over, so a demo
or a test portal has years of ageing behind its live values: history charts, forecasts, remaining
life and diagnosis all have their input.

Batteries are matched to the scenario's BMU addresses among the site's in-service batteries.
A site that already has rollups in the window is left alone unless ``--replace`` is given.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from acquisition import storage
from acquisition.models import DailyRollup, HourlyRollup
from acquisition.simulator.history import PARAMETERS, age
from acquisition.simulator.scenario import Scenario, ScenarioError
from sites.models import Battery, Site

COLUMNS = ["battery_id", "bucket", "n"] + [
    f"{p}_{s}" for p in PARAMETERS for s in ("min", "avg", "max")
]


def _address_map(site: Site, scenario: Scenario) -> dict[int, int]:
    """BMU address -> battery id of the site's in-service batteries the scenario serves."""
    wanted = {a for bank in scenario.banks for a in bank.addresses}
    found: dict[int, int] = {}
    rows = Battery.objects.in_service().filter(bank__site=site, bmu_address__in=wanted)
    for battery_id, address in rows.values_list("pk", "bmu_address"):
        if address in found:
            raise CommandError(
                f"BMU address {address} belongs to two in-service batteries of {site.slug} "
                "(on different buses): a scenario serves one bus"
            )
        found[address] = battery_id
    if not found:
        raise CommandError(
            f"no in-service battery of {site.slug} has a BMU address the scenario serves"
        )
    return found


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", required=True, help="slug of the site")
        parser.add_argument("--scenario", required=True, type=Path, help="simulator scenario JSON")
        parser.add_argument("--days", type=int, default=730, help="history length (days)")
        parser.add_argument(
            "--step-hours", type=float, default=6.0, help="hours between samples (1-24)"
        )
        parser.add_argument(
            "--replace", action="store_true", help="rewrite rollups already in the window"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        site = Site.objects.filter(slug=options["site"]).first()
        if site is None:
            raise CommandError(f"no site with slug {options['site']!r}")
        days, step_h = options["days"], options["step_hours"]
        if not 1 <= days <= 3650:
            raise CommandError("--days must be 1..3650")
        if not 1 <= step_h <= 24 or 24 % step_h:
            raise CommandError("--step-hours must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)")
        try:
            scenario = Scenario.from_file(options["scenario"])
        except (OSError, ScenarioError) as exc:
            raise CommandError(f"--scenario: {exc}") from exc
        ids = _address_map(site, scenario)
        end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - dt.timedelta(days=days)
        existing = HourlyRollup.objects.filter(
            battery_id__in=ids.values(), bucket__gte=start, bucket__lt=end
        )
        if existing.exists() and not options["replace"]:
            self.stdout.write(
                f"{site.slug}: history already present in the last {days} days; "
                "nothing written (--replace rewrites it)"
            )
            return
        t0 = time.monotonic()
        rows = self._write(ids, scenario, start, days, step_h * 3600.0)
        self.stdout.write(
            self.style.SUCCESS(
                f"{site.slug}: {len(ids)} batteries, {days} days, {rows} hourly samples "
                f"in {time.monotonic() - t0:.1f} s"
            )
        )

    def _write(
        self, ids: dict[int, int], scenario: Scenario, start: dt.datetime, days: int, step_s: float
    ) -> int:
        """Replace the window's rollups in one transaction, streaming each sample into COPY."""
        written, next_report = 0, 0.1
        steps = int(days * 86400 // step_s)
        end = start + dt.timedelta(days=days)
        with transaction.atomic(), connection.cursor() as cursor:
            for model in (HourlyRollup, DailyRollup):
                model.objects.filter(
                    battery_id__in=ids.values(), bucket__gte=start, bucket__lt=end
                ).delete()
            with cursor.cursor.copy(
                f"COPY acquisition_hourlyrollup ({', '.join(COLUMNS)}) FROM STDIN"
            ) as copy:
                for i, sample in enumerate(age(scenario, days, step_s=step_s)):
                    bucket = (start + dt.timedelta(seconds=sample.t_s)).isoformat()
                    lines = []
                    for address, battery_id in ids.items():
                        v = sample.values[address]
                        stats = "\t".join(f"{v[p]}\t{v[p]}\t{v[p]}" for p in PARAMETERS)
                        lines.append(f"{battery_id}\t{bucket}\t1\t{stats}\n")
                    copy.write("".join(lines))
                    written += len(lines)
                    if (i + 1) / steps >= next_report:
                        self.stdout.write(
                            f"  simulated {(i + 1) * step_s / 86400:.0f} of {days} days"
                        )
                        next_report += 0.1
            storage.rollup("day", start, end, list(ids.values()))
        return written
