from django.urls import path

from acquisition import views

app_name = "acquisition"
urlpatterns = [
    path("readings.csv", views.readings_csv, name="readings-csv"),
    path("bank-readings.csv", views.bank_readings_csv, name="bank-readings-csv"),
]
