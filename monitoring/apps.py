from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = _("Monitoring")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trial.selectors.audit import register_patient_history

        from .models import CtdnaResult, CtdnaVariant, Sample

        # The patient's audit trail shows each draw and each result, attributed to the lab.
        register_patient_history(Sample, "patient")
        register_patient_history(CtdnaResult, "patient")
        register_patient_history(CtdnaVariant, "result__patient")
