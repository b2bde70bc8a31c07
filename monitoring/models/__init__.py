from .base import ImmutableRecord, ImmutableRowError
from .labs import LAB_CODE_PATTERN, Lab
from .outbox import MAX_ATTEMPTS, NoticeState, OutboxOutcome, TriggerOutbox
from .results import (
    Channel,
    CtdnaResult,
    CtdnaVariant,
    LabSubmission,
    NextAction,
    PatientCtdnaStatus,
    SampleStatus,
    VariantChange,
)
from .samples import SAMPLE_ID_PATTERN, Sample

__all__ = [
    "LAB_CODE_PATTERN",
    "MAX_ATTEMPTS",
    "SAMPLE_ID_PATTERN",
    "Channel",
    "CtdnaResult",
    "CtdnaVariant",
    "ImmutableRecord",
    "ImmutableRowError",
    "Lab",
    "LabSubmission",
    "NextAction",
    "NoticeState",
    "OutboxOutcome",
    "PatientCtdnaStatus",
    "Sample",
    "SampleStatus",
    "TriggerOutbox",
    "VariantChange",
]
