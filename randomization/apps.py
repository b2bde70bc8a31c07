from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RandomizationConfig(AppConfig):
    name = "randomization"
    verbose_name = _("Randomization")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trial.selectors.audit import register_patient_history

        from .models import Allocation, Crossover

        register_patient_history(Allocation, "patient")
        register_patient_history(Crossover, "patient")
