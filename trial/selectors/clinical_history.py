"""Registers the Step 1 follow-up records in each patient's audit trail.

Imported by the services and the admin that write and show these records, so the
registration is in place in every process (web, worker, tests) before any trail is read.
"""

from __future__ import annotations

from trial.models import (
    AdverseEvent,
    BloodCount,
    Cycle,
    DoseDecision,
    LocoregionalTreatment,
    QolQuestionnaire,
    ScheduleItem,
    SurvivalContact,
    TargetLesion,
    TumourAssessment,
)

from .audit import register_patient_history

register_patient_history(Cycle, "line__patient")
register_patient_history(DoseDecision, "line__patient")
register_patient_history(BloodCount, "patient")
register_patient_history(AdverseEvent, "patient")
register_patient_history(TumourAssessment, "patient")
register_patient_history(TargetLesion, "assessment__patient")
register_patient_history(QolQuestionnaire, "patient")
register_patient_history(ScheduleItem, "patient")
register_patient_history(LocoregionalTreatment, "patient")
register_patient_history(SurvivalContact, "patient")
