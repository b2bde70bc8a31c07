"""Shared model behaviour: records of the trial are never hard-deleted."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class HardDeleteForbidden(Exception):
    """Raised when code tries to delete a trial record; void or withdraw it with a reason."""


class NoDeleteQuerySet(models.QuerySet):
    def delete(self):  # type: ignore[override]
        raise HardDeleteForbidden(f"{self.model.__name__} rows are never deleted")


class NoDeleteManager(models.Manager.from_queryset(NoDeleteQuerySet)):  # type: ignore[misc]
    pass


class TrialRecord(models.Model):
    """Base for every clinical record: creation attribution, no hard delete."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
        null=True,
    )

    objects = NoDeleteManager()

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden(f"{type(self).__name__} rows are never deleted")


def history_reason_field() -> models.TextField:
    """simple-history's change reason as a TextField: reasons can be long."""
    return models.TextField(null=True)
