from rest_framework.routers import SimpleRouter

from forecasting.api import views

router = SimpleRouter()
router.register("forecasts", views.ForecastViewSet, basename="forecast")
router.register("remaining-life", views.RemainingLifeViewSet, basename="remaininglife")
router.register("replacement-plan", views.ReplacementPlanViewSet, basename="replacementplan")
urlpatterns = router.urls
