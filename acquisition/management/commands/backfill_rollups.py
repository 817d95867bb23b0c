"""Recompute hourly and daily rollups for a time range (after an import or a bug fix)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from acquisition import storage
from acquisition.query import ParamError, parse_range


class Command(BaseCommand):
    help = "Recompute the hourly and daily rollups of every battery between --start and --end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", required=True, help="ISO 8601, e.g. 2026-11-01 (UTC)")
        parser.add_argument("--end", help="ISO 8601; default: now")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            start, end = parse_range({"start": options["start"], "end": options["end"] or ""})
        except ParamError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Rolling up {start.isoformat()} .. {end.isoformat()} ...")
        hours, days = storage.backfill_rollups(
            start, min(end, dt.datetime.now(dt.UTC)), progress=lambda m: self.stdout.write(f"  {m}")
        )
        self.stdout.write(self.style.SUCCESS(f"{hours} hourly and {days} daily rows written."))
