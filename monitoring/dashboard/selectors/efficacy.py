"""Efficacy: PADA-1 PFS from randomization, PALATINE overall survival.

PFS (DOMAIN.md 1.6 co-primary 2, section 7 rule 24): randomization date to the first of RECIST
1.1 progression (investigator, an assessment after randomization with overall response PD) or
death (a grade 5 adverse event or a survival contact's death date, on or after randomization);
otherwise censored at the last adequate tumour assessment (overall response other than "not
evaluable") on or after randomization, at randomization if none. This is the derivation of
``randomization.selectors.pfs`` (which is for the data-monitoring roles only and reads deaths
from survival contacts alone), with site scoping and the dashboard filters, so that the pooled
page (sponsor) and the by-arm page count the same events. Progression after the crossover is
PFS2 and never ends PFS. The stratum is the allocation's stratum key, so the analysis is
stratified by the randomization strata.

PALATINE overall survival (DOMAIN.md 2): from the start of treatment (actual C1D1, else the
planned C1D1, else enrolment) to death (survival contact or grade 5 adverse event); otherwise
censored at the last date known alive (survival contacts), at the start if none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from monitoring.analysis import days_to_months
from monitoring.analysis.survival import SurvivalRecord
from randomization.models import Allocation
from trial.models import (
    AdverseEvent,
    OverallResponse,
    SurvivalContact,
    TreatmentLine,
    TumourAssessment,
    VitalStatus,
)
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import patients, scoped

POOLED = "all"


def _first(qs, field: str):
    return Subquery(qs.order_by(field).values(field)[:1])


def _last(qs, field: str):
    return Subquery(qs.order_by(f"-{field}").values(field)[:1])


@dataclass(frozen=True)
class PfsRow:
    patient_id: int
    arm: str
    stratum: str
    randomized_on: dt.date
    progression_on: dt.date | None
    death_on: dt.date | None
    last_assessment_on: dt.date | None

    def record(self, *, by_arm: bool) -> SurvivalRecord:
        ends = [d for d in (self.progression_on, self.death_on) if d is not None]
        if ends:
            end, event = min(ends), True
        else:
            end, event = self.last_assessment_on or self.randomized_on, False
        return SurvivalRecord(
            days_to_months(max(0, (end - self.randomized_on).days)),
            event,
            group=self.arm if by_arm else POOLED,
            stratum=self.stratum or None,
        )


def pfs_rows(*, user: User | None, filters: DashboardFilters) -> list[PfsRow]:
    """One row per randomized patient with the dates PFS needs (one query)."""
    patient = OuterRef("patient")
    after = {"patient": patient, "assessed_on__gt": OuterRef("allocated_on")}
    rows = (
        scoped(Allocation.objects.all(), user, filters, "patient__")
        .annotate(
            progression_on=_first(
                TumourAssessment.objects.filter(overall_response=OverallResponse.PD, **after),
                "assessed_on",
            ),
            ae_death_on=_first(
                AdverseEvent.objects.filter(
                    patient=patient, grade=5, onset_on__gte=OuterRef("allocated_on")
                ),
                "onset_on",
            ),
            contact_death_on=_first(
                SurvivalContact.objects.filter(
                    patient=patient, death_on__gte=OuterRef("allocated_on")
                ),
                "death_on",
            ),
            last_assessment_on=_last(
                TumourAssessment.objects.filter(
                    patient=patient, assessed_on__gte=OuterRef("allocated_on")
                ).exclude(overall_response=OverallResponse.NE),
                "assessed_on",
            ),
        )
        .values_list(
            "patient_id",
            "arm",
            "stratum",
            "allocated_on",
            "progression_on",
            "ae_death_on",
            "contact_death_on",
            "last_assessment_on",
        )
        .order_by("patient_id")
    )
    result = []
    for patient_id, arm, stratum, on, progression, ae_death, contact_death, last in rows:
        deaths = [d for d in (ae_death, contact_death) if d is not None]
        result.append(
            PfsRow(patient_id, arm, stratum, on, progression, min(deaths, default=None), last)
        )
    return result


@dataclass(frozen=True)
class OsRow:
    patient_id: int
    start: dt.date
    death_on: dt.date | None
    last_alive_on: dt.date | None

    def record(self) -> SurvivalRecord:
        if self.death_on is not None:
            end, event = self.death_on, True
        else:
            end, event = max(self.last_alive_on or self.start, self.start), False
        return SurvivalRecord(days_to_months(max(0, (end - self.start).days)), event, POOLED)


def os_rows(*, user: User | None, filters: DashboardFilters) -> list[OsRow]:
    """One row per enrolled patient of the filtered protocol (one query)."""
    patient = OuterRef("pk")
    line = TreatmentLine.objects.filter(patient=patient).order_by("created_at")
    contacts = SurvivalContact.objects.filter(patient=patient)
    rows = (
        patients(user, filters)
        .filter(enrolled_on__isnull=False)
        .annotate(
            started=Subquery(line.values("started_on")[:1]),
            planned=Subquery(line.values("planned_c1d1")[:1]),
            contact_death=_first(contacts.filter(vital_status=VitalStatus.DEAD), "death_on"),
            ae_death=_first(AdverseEvent.objects.filter(patient=patient, grade=5), "onset_on"),
            alive_contact=_last(contacts.filter(vital_status=VitalStatus.ALIVE), "contacted_on"),
            alive_reported=_last(
                contacts.filter(last_known_alive_on__isnull=False), "last_known_alive_on"
            ),
        )
        .values_list(
            "pk",
            "started",
            "planned",
            "enrolled_on",
            "contact_death",
            "ae_death",
            "alive_contact",
            "alive_reported",
        )
        .order_by("pk")
    )
    result = []
    for pk, started, planned, enrolled, c_death, ae_death, alive, reported in rows:
        deaths = [d for d in (c_death, ae_death) if d is not None]
        alive_dates = [d for d in (alive, reported) if d is not None]
        result.append(
            OsRow(
                pk,
                started or planned or enrolled,
                min(deaths) if deaths else None,
                max(alive_dates) if alive_dates else None,
            )
        )
    return result
