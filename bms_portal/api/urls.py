from rest_framework.routers import SimpleRouter

from bms_portal.api import views

router = SimpleRouter()
router.register("tokens", views.ApiTokenViewSet, basename="apitoken")
urlpatterns = router.urls
