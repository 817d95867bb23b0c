from rest_framework.routers import SimpleRouter

from alarms.api import views

router = SimpleRouter()
router.register("alarms", views.AlarmViewSet, basename="alarm")
urlpatterns = router.urls
