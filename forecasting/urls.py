"""URLs under ``/forecasts/``."""

from django.urls import path

from forecasting import dash_apps, views  # noqa: F401  (registers the Dash app)

app_name = "forecasting"
urlpatterns = [
    path("", views.plan, name="plan"),
    path("sites/<slug:slug>/", views.site_plan, name="site-plan"),
    path("sites/<slug:slug>/chart/", views.site_scatter, name="site-scatter"),
    path("banks/<int:pk>/chart/", views.bank_scatter, name="bank-scatter"),
]
