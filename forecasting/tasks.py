"""Celery tasks of the ``forecasting`` queue (routed by ``CELERY_TASK_ROUTES["forecasting.*"]``).

LightGBM is imported (through ``forecasting.actions`` and the engine) only inside the tasks, in
the worker child: a booster loaded in the prefork parent hangs the children (DESIGN.md).
"""

from __future__ import annotations

from celery import shared_task


def _site_ids() -> list[int]:
    from sites.choices import BatteryStatus
    from sites.models import Site

    return list(
        Site.objects.filter(banks__batteries__status=BatteryStatus.IN_SERVICE)
        .distinct()
        .values_list("pk", flat=True)
    )


@shared_task(name="forecasting.tasks.train")
def train() -> list[int]:
    """Weekly: train a new version of every parameter's fleet model, then predict every site."""
    from forecasting import actions

    stored = actions.train()
    if stored:
        for site_id in _site_ids():
            predict_site.delay(site_id)
    return [m.pk for m in stored]


@shared_task(name="forecasting.tasks.predict_site")
def predict_site(site_id: int) -> int:
    """Forecasts, remaining life and diagnosis of one site's batteries with the latest models."""
    from forecasting import actions

    return actions.predict_site(site_id)


@shared_task(name="forecasting.tasks.predict_all")
def predict_all() -> int:
    """Daily: one ``predict_site`` task per site with in-service batteries."""
    ids = _site_ids()
    for site_id in ids:
        predict_site.delay(site_id)
    return len(ids)
