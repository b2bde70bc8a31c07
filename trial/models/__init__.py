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
from .treatment import AromataseInhibitor, TreatmentLine

__all__ = [
    "CENTRAL_ROLES",
    "SITE_ROLES",
    "ApiToken",
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
    "TreatmentLine",
    "TrialRecord",
]
