from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrialConfig(AppConfig):
    name = "trial"
    verbose_name = _("Trial")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trial.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from trial.selectors import clinical_history  # noqa: F401  (audit-trail registration)
