from django.urls import path

from sites import (
    dash_apps,  # noqa: F401  (registers the Dash apps before their URLs are hit)
    views,
)

app_name = "sites"
urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("sites/<slug:slug>/", views.site_detail, name="site"),
    path("sites/<slug:slug>/live.json", views.site_live_json, name="site-live-json"),
    path("sites/<slug:slug>/live.csv", views.site_live_csv, name="site-live-csv"),
    path("banks/<int:pk>/", views.bank_detail, name="bank"),
    path("batteries/<int:pk>/", views.battery_detail, name="battery"),
]
