from django.urls import path

from alarms import views

app_name = "alarms"
urlpatterns = [
    path("", views.alarm_list, name="list"),
    path("<int:pk>/", views.alarm_detail, name="detail"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("site/<slug:slug>/", views.site_alarms, name="site"),
    path("batteries/<int:pk>/thresholds/", views.battery_thresholds, name="thresholds"),
]
