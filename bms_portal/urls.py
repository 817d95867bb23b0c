from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from acquisition.api import gateway
from bms_portal import metrics, views, views_tokens

api_v1 = [
    path("", include("bms_portal.api.urls")),
    path("", include("sites.api.urls")),
    path("", include("acquisition.api.urls")),
    path("", include("alarms.api.urls")),
    path("", include("forecasting.api.urls")),
]

urlpatterns = [
    # The edge agents' endpoints first: Django tries the patterns in order, and the ingest, the
    # busiest URL, resolved behind the ~100 patterns of the API before it (~0.3 ms per request).
    path("api/v1/ingest/", gateway.ingest_view, name="ingest"),
    path("api/v1/agent/config/", gateway.agent_config_view, name="agent-config"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("account/tokens/", views_tokens.token_list, name="api-tokens"),
    path("account/tokens/<int:pk>/revoke/", views_tokens.token_revoke, name="api-token-revoke"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("export/", include("acquisition.urls")),
    path("alarms/", include("alarms.urls")),
    path("reports/", include("sites.reports.urls")),
    path("forecasts/", include("forecasting.urls")),
    path("django_plotly_dash/", include("django_plotly_dash.urls")),
    path("", include("sites.urls")),
]

# JSON errors on /api/ paths, the usual pages elsewhere (bms_portal.api.errors)
handler400 = "bms_portal.api.errors.bad_request"
handler403 = "bms_portal.api.errors.permission_denied"
handler404 = "bms_portal.api.errors.page_not_found"
handler500 = "bms_portal.api.errors.server_error"
