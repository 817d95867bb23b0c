from django.urls import path
from rest_framework.routers import DefaultRouter

from sites.api import views
from sites.reports.api import FleetReportView, SiteReportView

router = DefaultRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("banks", views.BankViewSet, basename="bank")
router.register("batteries", views.BatteryViewSet, basename="battery")
router.register("battery-models", views.BatteryModelViewSet, basename="batterymodel")
router.register("gateways", views.GatewayViewSet, basename="gateway")
urlpatterns = [
    *router.urls,
    path("reports/site/<int:id>/", SiteReportView.as_view(), name="site-report"),
    path("reports/fleet/", FleetReportView.as_view(), name="fleet-report"),
]
