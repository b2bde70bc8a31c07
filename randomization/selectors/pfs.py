"""Progression-free survival from randomization, derived from recorded data only.

PFS (DOMAIN.md 1.6; section 7 rule 24) runs from the allocation date to the first of
investigator-assessed RECIST 1.1 progression (overall response PD) or death, whichever comes
first; a patient with neither is censored at the last adequate tumour assessment on or after
randomization (an overall response other than "not evaluable"), or at randomization when
there is none. The censoring convention is the usual one [M] (FDA, Clinical Trial Endpoints
for the Approval of Cancer Drugs and Biologics, 2018): confirm it with the trial's SAP.
A progression after crossover (Step 3) is PFS2 and never counts here: the first progression
after randomization comes before any crossover.

Deaths are read from survival contacts (``trial.models.SurvivalContact.death_on``) and from
grade 5 adverse events (CTCAE grade 5 = death; the onset date is taken as the date of death),
so PADA-1, which records no survival contacts, still counts deaths.
``cutoff`` ignores everything after the data cut-off date. One query whatever the number of
patients.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import DateField, F, OuterRef, Q, Subquery

from randomization.models import Allocation
from trial.models import AdverseEvent, OverallResponse, Role, SurvivalContact, TumourAssessment
from trial.selectors.access import User, require_role

# Outcome by arm is for the data-monitoring roles; the sponsor monitor sees efficacy pooled
# over the arms (monitoring/dashboard/access.py).
PFS_READERS = frozenset({Role.STATISTICIAN, Role.DATA_MANAGER})
PROGRESSION = "progression"
DEATH = "death"


@dataclass(frozen=True, slots=True)
class PfsObservation:
    """One randomized patient's PFS: ``time_days`` from ``randomized_on`` to ``end_on``;
    ``event`` false means censored at ``end_on``."""

    patient_id: int
    trial_number: str
    site: str
    arm: str
    stratum: str
    randomized_on: dt.date
    end_on: dt.date
    time_days: int
    event: bool
    event_type: str


def _first(queryset, field: str, *, descending: bool = False) -> Subquery:
    order = f"-{field}" if descending else field
    return Subquery(queryset.order_by(order).values(field)[:1], output_field=DateField())


def pfs_from_randomization(
    *, user: User | None, protocol_code: str | None = None, cutoff: dt.date | None = None
) -> list[PfsObservation]:
    """PFS of every randomized patient, by arm: the statistician and the data manager only
    (role_not_allowed otherwise)."""
    require_role(user, PFS_READERS)
    window = Q(assessed_on__gte=OuterRef("allocated_on"))
    deaths = Q(death_on__isnull=False, death_on__gte=OuterRef("allocated_on"))
    fatal_events = Q(grade=5, onset_on__gte=OuterRef("allocated_on"))
    if cutoff is not None:
        window &= Q(assessed_on__lte=cutoff)
        deaths &= Q(death_on__lte=cutoff)
        fatal_events &= Q(onset_on__lte=cutoff)
    assessments = TumourAssessment.objects.filter(window, patient=OuterRef("patient_id"))
    rows = (
        Allocation.objects.select_related("patient__site")
        .annotate(
            first_progression=_first(
                assessments.filter(overall_response=OverallResponse.PD), "assessed_on"
            ),
            last_assessment=_first(
                assessments.exclude(overall_response=OverallResponse.NE),
                "assessed_on",
                descending=True,
            ),
            death_on_first=_first(
                SurvivalContact.objects.filter(deaths, patient=OuterRef("patient_id")), "death_on"
            ),
            fatal_event_on=_first(
                AdverseEvent.objects.filter(fatal_events, patient=OuterRef("patient_id")),
                "onset_on",
            ),
        )
        .order_by("allocated_on", F("patient_id"))
    )
    if protocol_code:
        rows = rows.filter(design__protocol__code=protocol_code)
    if cutoff is not None:
        rows = rows.filter(allocated_on__lte=cutoff)
    return [_observation(a) for a in rows]


def _observation(allocation: Allocation) -> PfsObservation:
    start = allocation.allocated_on
    candidates = (
        (allocation.first_progression, 0, PROGRESSION),  # type: ignore[attr-defined]
        (allocation.death_on_first, 1, DEATH),  # type: ignore[attr-defined]
        (allocation.fatal_event_on, 1, DEATH),  # type: ignore[attr-defined]
    )
    events = [c for c in candidates if c[0] is not None]
    if events:
        end_on, _, kind = min(events)  # on the same day, the event is the progression
    else:
        end_on, kind = allocation.last_assessment or start, ""  # type: ignore[attr-defined]
    patient = allocation.patient
    return PfsObservation(
        patient_id=patient.pk,
        trial_number=patient.trial_number or "",
        site=patient.site.code,
        arm=allocation.arm,
        stratum=allocation.stratum,
        randomized_on=start,
        end_on=end_on,
        time_days=(end_on - start).days,
        event=bool(kind),
        event_type=kind,
    )
