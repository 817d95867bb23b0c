"""Create readings partitions ahead and drop those past retention (what the daily task does)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from acquisition import storage


class Command(BaseCommand):
    help = (
        "Create daily partitions of the readings tables ahead of time and drop the partitions "
        "older than READINGS_RETENTION_DAYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days-ahead", type=int, default=7, help="default: 7")
        parser.add_argument(
            "--days-back", type=int, default=0, help="also create past days (backfill imports)"
        )
        parser.add_argument(
            "--retention-days",
            type=int,
            default=None,
            help="default: READINGS_RETENTION_DAYS; 0 keeps everything",
        )
        parser.add_argument("--no-drop", action="store_true", help="only create partitions")

    def handle(self, *args: Any, **options: Any) -> None:
        def say(message: str) -> None:
            self.stdout.write(f"  {message}")

        self.stdout.write(
            f"Creating partitions {options['days_back']} day(s) back to "
            f"{options['days_ahead']} ahead ..."
        )
        created = storage.ensure_partitions(
            options["days_ahead"], days_back=options["days_back"], progress=say
        )
        self.stdout.write(f"{len(created)} partition(s) created.")
        if options["no_drop"]:
            return
        retention = options["retention_days"]
        if retention is None:
            retention = settings.READINGS_RETENTION_DAYS
        if retention <= 0:
            self.stdout.write("Retention 0: nothing dropped.")
            return
        self.stdout.write(f"Dropping partitions older than {retention} day(s) ...")
        dropped = storage.drop_old_partitions(retention, progress=say)
        self.stdout.write(self.style.SUCCESS(f"{len(dropped)} partition(s) dropped."))
