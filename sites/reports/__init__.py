"""Scheduled and on-demand PDF/CSV reports of a site or of the fleet a user may see.

Layout (docs/reports.md): ``periods`` (daily/weekly/monthly in a time zone), ``content`` (one
function per section, constant queries), ``charts`` (matplotlib SVG), ``render`` (Django templates
-> HTML -> WeasyPrint PDF; one CSV), ``actions`` (subscriptions, the scheduler's claim, delivery),
``tasks`` (Celery), ``views``/``urls`` (downloads, the subscriptions page). The models are models
of the ``sites`` app (imported at the end of ``sites/models.py``).
"""
