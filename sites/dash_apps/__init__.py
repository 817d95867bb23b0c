"""The portal's Dash apps (django-plotly-dash, stateless, embedded with ``{% plotly_direct %}``).

Importing this package registers them; ``sites.urls`` does so. Each app learns which object it
shows from the page URL (a ``dcc.Location``) and re-checks access with ``for_user`` inside every
callback, with the user django-plotly-dash passes to callbacks (``kwargs["user"]``): the Dash
endpoints are plain URLs anyone can post to, so the page's own check is not enough.
"""

from sites.dash_apps import bank_chart, battery_history

__all__ = ["bank_chart", "battery_history"]
