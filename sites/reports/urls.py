"""Report URLs, included under ``/reports/`` from ``bms_portal/urls.py``."""

from django.urls import path

from sites.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.subscriptions, name="subscriptions"),
    path("<int:pk>/stop/", views.unsubscribe, name="unsubscribe"),
    path("download/", views.download, name="download"),
]
