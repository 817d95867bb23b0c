from django.urls import path
from rest_framework.routers import SimpleRouter

from alarms.api import thresholds, views

router = SimpleRouter()
router.register("alarms", views.AlarmViewSet, basename="alarm")
router.register("thresholds", thresholds.ThresholdViewSet, basename="threshold")
urlpatterns = [
    *router.urls,
    path(
        "batteries/<int:id>/thresholds/",
        thresholds.BatteryThresholdsView.as_view(),
        name="battery-thresholds",
    ),
]
