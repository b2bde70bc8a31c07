"""A small two-site trial built through the real services, shared by the reliability tests.

Site A (FR01) and site B (FR02) each have an enrolled patient in Step 1 follow-up (a started
cycle, a blood count whose neutropenia proposes a dose decision, an adverse event, a ctDNA
sample and its lab result), a patient still in screening with a consent, and a randomized
patient; site A's Arm A patient has crossed over. One persona per role and site holds a real
API token. Time is frozen at ``NOW`` (ticking) while the world exists.

``World.markers`` lists strings that identify each site's patients (the site part of trial
numbers, screening numbers, sample ids), so that a response can be searched for data it must not contain.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model

from monitoring.dashboard.filters import parse_filters
from monitoring.dashboard.models import ExportJob
from monitoring.dashboard.services import export_job_request
from monitoring.models import CtdnaResult, Lab, Sample
from monitoring.services.ingestion import ctdna_result_ingest, submission_record
from monitoring.services.labs import lab_register
from monitoring.services.samples import sample_record
from randomization.models import Allocation, Crossover, Design
from randomization.services.crossover import patient_crossover
from tests.conftest import PASSWORD, make_user
from tests.randomization import factories as rf
from tests.trial import factories as f
from tests.trial.step1.conftest import PALATINE_ELIGIBLE
from trial.models import (
    AdverseEvent,
    ApiToken,
    AuditEvent,
    BloodCount,
    Consent,
    Cycle,
    DoseDecision,
    LocoregionalTreatment,
    Patient,
    ProtocolVersion,
    QolQuestionnaire,
    Role,
    ScheduleItem,
    Site,
    StaffProfile,
    SurvivalContact,
    TumourAssessment,
)
from trial.services import adverse_events, blood_counts, cycles, palatine, patients, qol
from trial.services.accounts import api_token_issue
from trial.services.protocols import PROTOCOL_DIR, protocol_load_file

NOW = dt.datetime(2027, 6, 1, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
ENROLLED_ON = dt.date(2027, 1, 4)  # a Monday
C1D1 = ENROLLED_ON + dt.timedelta(days=7)


@dataclass(frozen=True)
class Persona:
    """A user of one role, attached to one site (site staff, labs) or to none (central)."""

    name: str
    user: Any
    role: str
    site: str | None
    token: str

    @property
    def central(self) -> bool:
        return self.site is None


@dataclass(frozen=True)
class SiteData:
    """The records of one site, each reachable through an id in a URL."""

    site: Site
    patient: Patient
    screening: Patient
    randomized: Patient
    consent: Consent
    cycle: Cycle
    blood_count: BloodCount
    dose_decision: DoseDecision
    adverse_event: AdverseEvent
    sample: Sample
    result: CtdnaResult
    allocation: Allocation
    lab: Lab


@dataclass
class World:
    personas: dict[str, Persona]
    sites: dict[str, SiteData]
    design: Design
    crossover: Crossover
    export_job_id: int
    version: ProtocolVersion
    markers: dict[str, set[str]] = field(default_factory=dict)

    def persona(self, name: str) -> Persona:
        return self.personas[name]


def _follow_up_patient(*, by, site, version, number: str) -> Patient:
    """Enrolled on ENROLLED_ON, cycle 1 started on C1D1."""
    patient = f.enrolled(by=by, site=site, version=version, today=ENROLLED_ON, number=number)
    cycles.cycle_start(patient=patient, on=C1D1, by=by, today=TODAY)
    return patient


def _neutropenic_count(patient, by) -> BloodCount:
    """C1D15 with ANC 0.4 G/L (CTCAE grade 4): a dose decision is proposed."""
    values = {
        "anc": {"value": 0.4, "unit": "G/L"},
        "platelets": {"value": 250, "unit": "G/L"},
        "haemoglobin": {"value": 130, "unit": "g/L"},
    }
    return blood_counts.blood_count_record(
        patient=patient,
        by=by,
        drawn_on=C1D1 + dt.timedelta(days=14),
        cycle_number=1,
        cycle_day=15,
        values=values,
        today=TODAY,
    ).blood_count


def lab_payload(sample: Sample, variants: list | None = None, **changes) -> dict:
    """A result in the lab contract (JSON) for ``sample``, analysed 12 days after the draw."""
    return {
        "sample_id": sample.sample_id,
        "patient_id": sample.patient.trial_number,
        "collected_on": sample.drawn_on.isoformat(),
        "analysed_on": (sample.drawn_on + dt.timedelta(days=12)).isoformat(),
        "assay": "ddPCR",
        "status": "reported",
        "failure_reason": None,
        "variants": variants or [],
        **changes,
    }


def result_body(world: World, **changes) -> dict:
    """Site A's first result as its lab posted it, with ``changes``."""
    return lab_payload(world.sites["FR01"].sample, **changes)


def _lab_result(lab: Lab, sample: Sample, variants: list | None = None) -> CtdnaResult:
    body = lab_payload(sample, variants)
    submission = submission_record(
        lab=lab, channel="json", media_type="application/json", body=json.dumps(body).encode()
    )
    return ctdna_result_ingest(lab=lab, payload=body, submission=submission, today=TODAY).result


def _site_data(*, letter: str, site: Site, investigator, lab: Lab, version) -> SiteData:
    patient = _follow_up_patient(
        by=investigator, site=site, version=version, number=f"XSCR{letter}1"
    )
    count = _neutropenic_count(patient, investigator)
    event = adverse_events.adverse_event_record(
        patient=patient,
        by=investigator,
        term="Fatigue",
        grade=2,
        onset_on=C1D1 + dt.timedelta(days=3),
        attribution="possible",
        serious=False,
        today=TODAY,
    )
    sample = sample_record(
        by=investigator,
        patient=patient,
        sample_id=f"TUBE{letter}1",
        drawn_on=ENROLLED_ON,
        today=TODAY,
    )
    result = _lab_result(lab, sample)
    rising = sample_record(
        by=investigator,
        patient=patient,
        sample_id=f"TUBE{letter}2",
        drawn_on=ENROLLED_ON + dt.timedelta(days=42),
        today=TODAY,
    )
    # A new ESR1 mutation: the result is "rising" and leaves a Step 2 trigger outbox row.
    variant = {"gene": "ESR1", "protein_change": "p.D538G", "vaf": 0.0123, "copies_per_ml": 14.0}
    _lab_result(lab, rising, [variant])
    screening = f.registered(by=investigator, site=site, version=version, number=f"XSCR{letter}2")
    f.consented(by=investigator, patient=screening, today=TODAY)
    randomized, allocation, _ = rf.randomized_on_arm(
        letter, by=investigator, site=site, version=version, today=TODAY
    )
    return SiteData(
        site=site,
        patient=patient,
        screening=screening,
        randomized=randomized,
        consent=Consent.objects.get(patient=screening),
        cycle=Cycle.objects.filter(line__patient=patient).get(number=1),
        blood_count=count,
        dose_decision=DoseDecision.objects.get(blood_count=count),
        adverse_event=event,
        sample=sample,
        result=result,
        allocation=allocation,
        lab=lab,
    )


def _crossover(site_data: SiteData, investigator) -> Crossover:
    patient = site_data.randomized
    progression_on = site_data.allocation.allocated_on + dt.timedelta(days=28)
    rf.assess(patient, by=investigator, on=progression_on, today=TODAY, new_lesions=True)
    patient.refresh_from_db()
    return patient_crossover(patient=patient, by=investigator, password=PASSWORD, today=TODAY)


def _palatine_patient(*, by, site) -> Patient:
    """A PALATINE patient with radiotherapy of the primary and a survival contact."""
    version = protocol_load_file(PROTOCOL_DIR / "palatine.yaml").version
    patient = f.registered(by=by, site=site, version=version, number="XSCRP1", today=ENROLLED_ON)
    f.consented(by=by, patient=patient, today=ENROLLED_ON)
    f.screened(by=by, patient=patient, today=ENROLLED_ON, values=PALATINE_ELIGIBLE)
    patient = patients.patient_enrol(
        by=by, patient=patient, endocrine_drug="letrozole", planned_c1d1=C1D1, today=ENROLLED_ON
    )
    palatine.locoregional_treatment_record(
        patient=patient,
        by=by,
        modality="radiotherapy",
        today=TODAY,
        radiotherapy_start_on=C1D1 + dt.timedelta(days=30),
        radiotherapy_end_on=C1D1 + dt.timedelta(days=60),
    )
    palatine.survival_contact_record(
        patient=patient,
        by=by,
        contacted_on=TODAY - dt.timedelta(days=7),
        method="phone",
        vital_status="alive",
        today=TODAY,
    )
    return patient


def _persona(name: str, user, role: str, site: str | None) -> Persona:
    _token, key = api_token_issue(user=user, label="reliability")
    return Persona(name=name, user=user, role=role, site=site, token=key)


def build_world() -> World:
    """Build the two-site trial (call with time frozen at ``NOW``)."""
    version = protocol_load_file(PROTOCOL_DIR / "pada1.yaml").version
    site_a = Site.objects.create(code="FR01", name="Institut A", country="FR")
    site_b = Site.objects.create(code="FR02", name="Centre B", country="FR")
    users = {
        "inv_a": (make_user("inv_a", Role.INVESTIGATOR, [site_a]), "FR01"),
        "coord_a": (make_user("coord_a", Role.COORDINATOR, [site_a]), "FR01"),
        "inv_b": (make_user("inv_b", Role.INVESTIGATOR, [site_b]), "FR02"),
        "coord_b": (make_user("coord_b", Role.COORDINATOR, [site_b]), "FR02"),
        "dm": (make_user("dm", Role.DATA_MANAGER), None),
        "sponsor": (make_user("sponsor", Role.SPONSOR_MONITOR), None),
        "stat": (make_user("stat", Role.STATISTICIAN), None),
    }
    dm = users["dm"][0]
    lab_a = lab_register(by=dm, code="LAB-A", name="Laboratoire A", sites=[site_a])
    lab_b = lab_register(by=dm, code="LAB-B", name="Laboratoire B", sites=[site_b])
    users["lab_a"] = (lab_a.service_user, "FR01")
    users["lab_b"] = (lab_b.service_user, "FR02")
    personas = {
        name: _persona(name, user, StaffProfile.objects.get(user=user).role, site)
        for name, (user, site) in users.items()
    }
    design = rf.active_design(statistician=users["stat"][0], version=version)
    inv_a, inv_b = users["inv_a"][0], users["inv_b"][0]
    sites = {
        "FR01": _site_data(letter="A", site=site_a, investigator=inv_a, lab=lab_a, version=version),
        "FR02": _site_data(letter="B", site=site_b, investigator=inv_b, lab=lab_b, version=version),
    }
    crossover = _crossover(sites["FR01"], inv_a)
    qol.qol_submit(
        patient=sites["FR01"].patient,
        by=inv_a,
        completed_on=C1D1,
        responses={item: 2 for item in range(1, 31)},
        today=TODAY,
    )
    _palatine_patient(by=inv_a, site=site_a)
    job = export_job_request(user=inv_a, kind="patients", filters=parse_filters({}, user=inv_a))
    world = World(
        personas=personas,
        sites=sites,
        design=design,
        crossover=crossover,
        export_job_id=job.pk,
        version=version,
    )
    for code, data in sites.items():
        patients = Patient.objects.filter(site=data.site)
        world.markers[code] = {
            f"-{code}-",  # inside every trial number of the site
            *patients.values_list("screening_number", flat=True),
            *Sample.objects.filter(patient__site=data.site).values_list("sample_id", flat=True),
        }
    world.markers["screening_numbers"] = set(
        Patient.objects.values_list("screening_number", flat=True)
    )
    return world


def admin_targets(world: World) -> dict[type, Any]:
    """One object per admin-registered model, site A's wherever the model belongs to a site."""
    a = world.sites["FR01"]
    return {
        Patient: a.patient,
        Site: a.site,
        StaffProfile: StaffProfile.objects.get(user=world.persona("inv_a").user),
        ApiToken: ApiToken.objects.filter(user=world.persona("lab_a").user).first(),
        AuditEvent: AuditEvent.objects.filter(patient=a.patient).first(),
        ProtocolVersion: world.version,
        ScheduleItem: ScheduleItem.objects.filter(patient=a.patient).first(),
        AdverseEvent: a.adverse_event,
        Cycle: a.cycle,
        DoseDecision: a.dose_decision,
        BloodCount: a.blood_count,
        Lab: a.lab,
        Sample: a.sample,
        CtdnaResult: a.result,
        Allocation: a.allocation,
        Crossover: world.crossover,
        Design: world.design,
        TumourAssessment: TumourAssessment.objects.filter(patient__site=a.site).first(),
        QolQuestionnaire: QolQuestionnaire.objects.filter(patient__site=a.site).first(),
        LocoregionalTreatment: LocoregionalTreatment.objects.filter(patient__site=a.site).first(),
        SurvivalContact: SurvivalContact.objects.filter(patient__site=a.site).first(),
        ExportJob: ExportJob.objects.get(pk=world.export_job_id),
        get_user_model(): world.persona("inv_a").user,
    }
