"""EORTC QLQ-C30 (version 3.0) questionnaires: item numbers and answers, and the scores.

Only item numbers and answers are stored, never item wording (EORTC copyright, DOMAIN.md
section 5). Scores (0-100, None = missing under the half-items rule) come from
``trial.rules.qlq_c30``.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .patients import Patient
from .treatment import TreatmentLine

QLQ_C30_SCALE_FIELDS = (
    "ql2",
    "pf2",
    "rf2",
    "ef",
    "cf",
    "sf",
    "fa",
    "nv",
    "pa",
    "dy",
    "sl",
    "ap",
    "co",
    "di",
    "fi",
    "summary",
)


def _score(label: str) -> models.FloatField:
    return models.FloatField(label, null=True, blank=True)


class QolQuestionnaire(TrialRecord):
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="qol_questionnaires"
    )
    line = models.ForeignKey(
        TreatmentLine, on_delete=models.PROTECT, related_name="qol_questionnaires"
    )
    instrument = models.CharField(_("instrument"), max_length=20, default="qlq_c30_v3")
    completed_on = models.DateField(_("completed on"))
    responses = models.JSONField(_("answers by item number"))
    ql2 = _score(_("global health status / QoL"))
    pf2 = _score(_("physical functioning"))
    rf2 = _score(_("role functioning"))
    ef = _score(_("emotional functioning"))
    cf = _score(_("cognitive functioning"))
    sf = _score(_("social functioning"))
    fa = _score(_("fatigue"))
    nv = _score(_("nausea and vomiting"))
    pa = _score(_("pain"))
    dy = _score(_("dyspnoea"))
    sl = _score(_("insomnia"))
    ap = _score(_("appetite loss"))
    co = _score(_("constipation"))
    di = _score(_("diarrhoea"))
    fi = _score(_("financial difficulties"))
    summary = _score(_("QLQ-C30 summary score"))
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("QoL questionnaire")
        verbose_name_plural = _("QoL questionnaires")
        ordering = ["-completed_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.instrument} {self.completed_on}"
