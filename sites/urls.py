from django.urls import path

from sites import views

app_name = "sites"
urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("sites/<slug:slug>/", views.site_detail, name="site"),
    path("banks/<int:pk>/", views.bank_detail, name="bank"),
    path("batteries/<int:pk>/", views.battery_detail, name="battery"),
]
