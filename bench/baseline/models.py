"""One row per request, with its history: what every audited write of the product pays."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from trial.models.base import TrialRecord, history_reason_field


class BaselineRow(TrialRecord):
    """Shaped like a lab result's bare minimum: a unique sample id, a value, attribution and
    simple-history, as every clinical record of the product."""

    sample_id = models.CharField(max_length=64, unique=True)
    value = models.FloatField()
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    def __str__(self) -> str:
        return self.sample_id
