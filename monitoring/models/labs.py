"""Central laboratories that analyse the ctDNA samples and post their results."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trial.models import HardDeleteForbidden, Site
from trial.models.base import NoDeleteManager, history_reason_field

LAB_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,15}$"


class Lab(models.Model):
    """A laboratory, the sites it serves, and the service account its API token belongs to.

    The service user (role ``lab``) is the actor of every result the lab posts, so the audit
    trail names the lab. ``sites`` is the only source of the sites a lab may post for.
    """

    code = models.CharField(_("lab code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=200)
    sites = models.ManyToManyField(
        Site, related_name="labs", blank=True, verbose_name=_("sites served")
    )
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="lab",
        verbose_name=_("service account"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords(
        history_change_reason_field=history_reason_field(), m2m_fields=[sites]
    )

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("laboratory")
        verbose_name_plural = _("laboratories")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=LAB_CODE_PATTERN), name="lab_code_format"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden("laboratories are never deleted")
