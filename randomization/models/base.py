"""Sealed rows: written once, never updated or deleted (the code refuses; on PostgreSQL a
trigger refuses too, see the ``seal_rows_postgresql`` migration)."""

from __future__ import annotations

from django.db import models

from randomization.exceptions import ImmutableRecord
from trial.models import HardDeleteForbidden


class SealedQuerySet(models.QuerySet):
    def delete(self):  # type: ignore[override]
        raise HardDeleteForbidden(f"{self.model.__name__} rows are never deleted")

    def update(self, **kwargs):  # noqa: ARG002
        raise ImmutableRecord(details={"model": self.model.__name__})

    def bulk_update(self, objs, fields, batch_size=None):  # noqa: ARG002
        raise ImmutableRecord(details={"model": self.model.__name__})


class SealedManager(models.Manager.from_queryset(SealedQuerySet)):  # type: ignore[misc]
    pass


class SealedMixin:
    """``save()`` inserts only; ``delete()`` refuses. Mixed into concrete models."""

    def save(self, *args, **kwargs):
        if not self._state.adding:  # type: ignore[attr-defined]
            raise ImmutableRecord(details={"model": type(self).__name__})
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)  # type: ignore[misc]

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden(f"{type(self).__name__} rows are never deleted")
