"""Root URLconf: admin, API v1 (each app mounts its routes), OpenAPI schema and docs, health."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from deploy import health

admin.site.site_header = "Adaptive trial"
admin.site.site_title = "Adaptive trial"

handler404 = "trial.middleware.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("trial.api.urls")),
    path("api/v1/", include("randomization.api.urls")),
    path("api/v1/", include("monitoring.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("dashboard/", include("monitoring.dashboard.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Also answered by deploy.health.HealthProbeMiddleware before host validation.
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
]
