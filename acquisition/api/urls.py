from django.urls import path

from acquisition.api import views

# The agents' endpoints (ingest, agent configuration) are first in bms_portal/urls.py.
urlpatterns = [
    path(
        "batteries/<int:pk>/readings/",
        views.BatteryReadingsView.as_view(),
        name="battery-readings",
    ),
    path("banks/<int:pk>/readings/", views.BankReadingsView.as_view(), name="bank-readings"),
    path("latest/", views.LatestView.as_view(), name="latest"),
]
