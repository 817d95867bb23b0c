from django.apps import AppConfig


class BmsPortalConfig(AppConfig):
    name = "bms_portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # dash >= 4.4.1 reads SECRET_KEY from its stand-in Flask app; django-plotly-dash's has none.
        # We pin dash < 4.4.1, but keep this so an upgrade does not break every chart page.
        from django.conf import settings
        from django_plotly_dash.dash_wrapper import DjangoDash  # noqa: F401
        from flask import Flask

        if not Flask.default_config.get("SECRET_KEY"):
            Flask.default_config = dict(Flask.default_config, SECRET_KEY=settings.SECRET_KEY)
