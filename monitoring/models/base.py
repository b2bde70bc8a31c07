"""Immutable rows: lab submissions, results and their variants are written once, never changed.

The database enforces it too: on PostgreSQL a trigger refuses UPDATE and DELETE on these tables
(migration ``0002_immutable_result_triggers``). A correction is a new row (an amendment).
"""

from __future__ import annotations

from django.db import models

from trial.models import HardDeleteForbidden


class ImmutableRowError(Exception):
    """Raised when code tries to change a row that is written once."""


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ARG002
        raise ImmutableRowError(f"{self.model.__name__} rows are never changed")

    def delete(self):  # type: ignore[override]
        raise HardDeleteForbidden(f"{self.model.__name__} rows are never deleted")


class ImmutableManager(models.Manager.from_queryset(ImmutableQuerySet)):  # type: ignore[misc]
    pass


class ImmutableRecord(models.Model):
    """Base of write-once rows: ``save()`` of an existing row and ``delete()`` raise."""

    objects = ImmutableManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRowError(f"{type(self).__name__} rows are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden(f"{type(self).__name__} rows are never deleted")
