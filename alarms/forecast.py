"""The hook between forecasting and alarms: remaining useful life per battery, in days.

``forecasting.models.RemainingLife`` holds one current row per battery with ``days``: predicted
days from today until the battery crosses its replacement threshold (DCR +50 % of baseline);
null when it does not cross within three years (no entry then). To feed it differently, change
only this function: the evaluation calls it once per batch with the batch's battery ids.
"""

from __future__ import annotations

import logging

from django.apps import apps

log = logging.getLogger(__name__)


def forecasting_rul_days(battery_ids: list[int]) -> dict[int, float]:
    """{battery id: remaining days} for the batteries that have a forecast (one query, or none)."""
    try:
        model = apps.get_model("forecasting", "RemainingLife")
    except LookupError:
        return {}
    try:
        rows = model.objects.filter(battery_id__in=battery_ids).values_list("battery_id", "days")
        return {battery_id: float(days) for battery_id, days in rows if days is not None}
    except Exception:  # a forecasting schema we do not understand must not stop alarms
        log.exception("forecasting.RemainingLife could not be read; forecast rules skipped")
        return {}
