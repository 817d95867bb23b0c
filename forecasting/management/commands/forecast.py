"""``manage.py forecast [--train [always|missing]] [--predict] [--site SLUG ...]``: run it now.

The same work as the Celery tasks of the ``forecasting`` queue (weekly training, daily prediction),
in this process and with progress: for an operator who wants fresh forecasts after importing
history or changing the engine settings, and for ``make demo`` after its accelerated ageing.
``--train missing`` trains only the parameters that have no model yet.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from forecasting import actions
from forecasting.choices import Parameter
from sites.choices import BatteryStatus
from sites.models import Site


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--train",
            nargs="?",
            const="always",
            choices=("always", "missing"),
            help="train the fleet models (missing: only parameters without a model)",
        )
        parser.add_argument(
            "--predict", action="store_true", help="forecast the sites with the latest models"
        )
        parser.add_argument("--site", action="append", help="site slug to predict (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["train"] and not options["predict"]:
            raise CommandError("nothing to do: give --train, --predict or both")
        if options["train"]:
            self._train(options["train"])
        if options["predict"]:
            self._predict(options["site"])

    def _train(self, mode: str) -> None:
        have = set(actions.latest_models()) if mode == "missing" else set()
        todo = [p for p in Parameter.values if p not in have]
        if not todo:
            self.stdout.write("every parameter has a model: nothing to train")
        for parameter in todo:
            t0 = time.monotonic()
            self.stdout.write(f"training {parameter} ...")
            stored = actions.train([parameter])
            if not stored:
                self.stdout.write(f"  {parameter}: no model (not enough history)")
                continue
            m = stored[0]
            metrics = m.metrics
            self.stdout.write(
                f"  {parameter}: version {m.version}, {m.training_series} batteries, "
                f"{m.training_rows} rows, fit MAE {metrics.get('fit_mae', float('nan')):.4g}, "
                f"fit 80 % coverage {metrics.get('fit_coverage_80', float('nan')):.2f}, "
                f"{time.monotonic() - t0:.1f} s"
            )

    def _predict(self, slugs: list[str] | None) -> None:
        sites = Site.objects.filter(banks__batteries__status=BatteryStatus.IN_SERVICE).distinct()
        if slugs:
            sites = Site.objects.filter(slug__in=slugs)
            missing = set(slugs) - set(sites.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"no site with slug {', '.join(sorted(missing))}")
        if not actions.latest_models():
            raise CommandError("no trained model yet: run with --train first")
        for site in sites.order_by("slug"):
            t0 = time.monotonic()
            done = actions.predict_site(site.pk)
            self.stdout.write(
                f"  {site.slug}: {done} batteries forecast in {time.monotonic() - t0:.1f} s"
            )
