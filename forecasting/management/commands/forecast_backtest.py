"""``manage.py forecast_backtest``: leave-one-series-out back-test of the forecaster.

Thin wrapper of :mod:`forecasting.engine.backtest` (also runnable without Django as
``python -m forecasting.engine.backtest`` with the same arguments).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from forecasting.engine import backtest


class Command(BaseCommand):
    help = "Back-test the forecaster against linear and exponential trend fits on a CSV of series."

    def add_arguments(self, parser: CommandParser) -> None:
        backtest.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            backtest.run_from_options(options, self.stdout, self.stderr)
        except backtest.BacktestInputError as exc:
            raise CommandError(str(exc)) from exc
