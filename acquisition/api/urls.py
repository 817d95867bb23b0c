from django.urls import path

from acquisition.api import gateway, views

urlpatterns = [
    path("ingest/", gateway.ingest_view, name="ingest"),
    path("agent/config/", gateway.agent_config_view, name="agent-config"),
    path(
        "batteries/<int:pk>/readings/",
        views.BatteryReadingsView.as_view(),
        name="battery-readings",
    ),
    path("banks/<int:pk>/readings/", views.BankReadingsView.as_view(), name="bank-readings"),
    path("latest/", views.LatestView.as_view(), name="latest"),
]
