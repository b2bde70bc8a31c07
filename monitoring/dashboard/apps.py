from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    """Central monitoring: dashboards, exports and their jobs (a sub-app of monitoring with
    its own migrations)."""

    name = "monitoring.dashboard"
    label = "dashboard"
    verbose_name = _("Central monitoring")
    default_auto_field = "django.db.models.BigAutoField"
