from .base import HardDeleteForbidden, TrialRecord
from .patients import (
    AuditEvent,
    Consent,
    EligibilityAssessment,
    EnrolmentCounter,
    MenopausalStatus,
    Patient,
    PatientStatus,
    Sex,
    Step,
)
from .protocols import Protocol, ProtocolVersion
from .sites import CENTRAL_ROLES, SITE_ROLES, ApiToken, Role, Site, StaffProfile
from .step2 import OPEN_TRIGGER_STATUSES, Step2Trigger, TriggerStatus
from .treatment import AromataseInhibitor, TreatmentLine

__all__ = [
    "CENTRAL_ROLES",
    "SITE_ROLES",
    "ApiToken",
    "OPEN_TRIGGER_STATUSES",
    "AromataseInhibitor",
    "AuditEvent",
    "Consent",
    "EligibilityAssessment",
    "EnrolmentCounter",
    "HardDeleteForbidden",
    "MenopausalStatus",
    "Patient",
    "PatientStatus",
    "Protocol",
    "ProtocolVersion",
    "Role",
    "Sex",
    "Site",
    "StaffProfile",
    "Step",
    "Step2Trigger",
    "TriggerStatus",
    "TreatmentLine",
    "TrialRecord",
]
