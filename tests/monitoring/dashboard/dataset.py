"""A known trial, built through the real services, for the dashboard and export tests.

Timeline (T0 = Monday 4 January 2027; every patient is enrolled on T0 with C1D1 on T0 + 7):

PADA-1, site FR01: A1 (70 y), A2 (58 y), A3 (66 y), A4 (45 y), R1, R2; screen failure SF1
(ECOG 3, ER 5 %). Site FR02: B1 (72 y), B2 (61 y), B3 (50 y), R3, R4; screen failure SF2
(HER2-positive); S1 still in screening.

- Blood counts on C1D1 (normal) for all but A4 (not evaluable); C1D15: A1 grade 3 neutropenia,
  B2 grade 4 neutropenia -> withhold, signed reduction to 100 mg.
- ctDNA: baseline draws on T0 + 7 (LAB-A serves FR01, LAB-B FR02); B2's baseline fails
  ("insufficient cfDNA") and is redrawn on T0 + 14; A4's is still pending. C2D1 draws (T0 + 35):
  A1, A2, B1, R1-R4 rising (p.D538G); A3, B3 not detected.
- Imaging (RECIST 1.1, one liver lesion): baselines on T0 + 3; on T0 + 50 A1, B1, R1-R4 stable
  (-> eligible for randomization), A2 progression (synchronous progression).
- Randomization of A1, B1, R1-R4 on T0 + 55 (stratified permuted blocks, fixed seed); then
  PFS_PLAN: assessments every 56 days after randomization, progression or death as planned;
  the first Arm A patient with progression crosses over 7 days later.
- QoL (QLQ-C30): A3 and B3 at C1D1 and C3D1 (A3's global health drops 33 points), A4 at C1D1.
- SAEs: A3 febrile neutropenia on T0 + 30, reported the same day; R3's fatal sepsis (the death
  of PFS_PLAN) reported two days later (late); B3 pneumonia on TODAY - 5, not reported
  (overdue).

PALATINE, P1 (FR01) alive at T0 + 760, P2 (FR02) dead on T0 + 300, P3 (FR01) alive at T0 + 200.

The daily schedule job runs on TODAY = T0 + 800 (items past their window become missed).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from unittest import mock

import time_machine

from monitoring.analysis import days_to_months
from monitoring.analysis.survival import SurvivalRecord
from monitoring.services.ingestion import ctdna_result_ingest, submission_record
from monitoring.services.labs import lab_register
from monitoring.services.outbox import outbox_drain
from monitoring.services.samples import sample_record
from randomization.services.allocation import patient_randomize
from randomization.services.crossover import patient_crossover
from tests.conftest import PASSWORD
from tests.randomization import factories as rf
from tests.trial import factories as f
from tests.trial.step1.conftest import PALATINE_ELIGIBLE
from trial.services import adverse_events, blood_counts, cycles, palatine, qol, schedule, tumour
from trial.services import patients as patient_svc

T0 = dt.date(2027, 1, 4)
TODAY = T0 + dt.timedelta(days=800)
RANDOMIZED_ON = T0 + dt.timedelta(days=55)
STRATA = {
    "A1": {"visceral_metastases": "yes", "time_on_step1": "lt_12_months"},
    "B1": {"visceral_metastases": "no", "time_on_step1": "lt_12_months"},
    "R1": {"visceral_metastases": "yes", "time_on_step1": "lt_12_months"},
    "R2": {"visceral_metastases": "no", "time_on_step1": "lt_12_months"},
    "R3": {"visceral_metastases": "yes", "time_on_step1": "lt_12_months"},
    "R4": {"visceral_metastases": "no", "time_on_step1": "lt_12_months"},
}
#: After randomization: (days of each assessment, True = progression at the last one),
#: and a death (grade 5 AE) day if any.
PFS_PLAN = {
    "A1": ((56, 112), True, None),
    "B1": ((56, 112, 168), False, None),
    "R1": ((56,), True, None),
    "R2": ((56, 112, 168), True, None),
    "R3": ((56,), False, 150),
    "R4": ((56, 112), True, None),
}
AGES = {"A1": 70, "A2": 58, "A3": 66, "A4": 45, "B1": 72, "B2": 61, "B3": 50}
AGES.update({"R1": 63, "R2": 67, "R3": 55, "R4": 69})
DRUGS = {"A1": "letrozole", "A2": "anastrozole", "A3": "exemestane", "B2": "anastrozole"}
SITE_A = ("A1", "A2", "A3", "A4", "R1", "R2")
SITE_B = ("B1", "B2", "B3", "R3", "R4")
RISING = ("A1", "A2", "B1", "R1", "R2", "R3", "R4")


def day(offset: int) -> dt.date:
    return T0 + dt.timedelta(days=offset)


def qlq_answers(global_health: int) -> dict[int, int]:
    """All 28 symptom/function items at 2 ("a little"), items 29-30 at ``global_health``."""
    answers = dict.fromkeys(range(1, 29), 2)
    answers[29] = answers[30] = global_health
    return answers


@dataclass
class Dataset:
    users: dict
    patients: dict = field(default_factory=dict)
    labs: dict = field(default_factory=dict)
    allocations: dict = field(default_factory=dict)
    crossed_over: str | None = None
    sites: dict = field(default_factory=dict)
    pada1: object = None
    palatine: object = None

    def pk(self, label: str) -> int:
        return self.patients[label].pk


class _Builder:
    def __init__(self, traveller, users, sites, pada1, palatine_version):
        self.clock = traveller
        self.users = users
        self.sites = sites
        self.pada1 = pada1
        self.palatine = palatine_version
        self.data = Dataset(users=users)

    # --- helpers -------------------------------------------------------------------------
    def at(self, offset: int, hour: int = 9) -> dt.date:
        when = dt.datetime.combine(day(offset), dt.time(hour), tzinfo=dt.UTC)
        self.clock.move_to(when)
        return when.date()

    def staff(self, label: str):
        return (
            self.users["inv_a"]
            if label in SITE_A or label in ("SF1", "P1", "P3")
            else (self.users["inv_b"])
        )

    def site(self, label: str):
        return self.sites["a"] if self.staff(label) is self.users["inv_a"] else self.sites["b"]

    def refresh(self, label: str):
        patient = self.data.patients[label]
        patient.refresh_from_db()
        return patient

    def registered(self, label: str, version, age: int = 60):
        return f.registered(
            by=self.staff(label),
            site=self.site(label),
            version=version,
            number=label,
            today=T0,
            age=age,
        )

    def enrol(self, label: str) -> None:
        by = self.staff(label)
        patient = self.registered(label, self.pada1, AGES[label])
        f.consented(by=by, patient=patient, today=T0)
        f.screened(by=by, patient=patient, today=T0)
        patient = patient_svc.patient_enrol(
            by=by,
            patient=patient,
            endocrine_drug=DRUGS.get(label, "letrozole"),
            planned_c1d1=day(7),
            today=T0,
        )
        self.data.patients[label] = patient

    def assess(self, label: str, offset: int, *, diameter_mm=30, new_lesions=False):
        return tumour.tumour_assessment_record(
            patient=self.refresh(label),
            by=self.staff(label),
            assessed_on=day(offset),
            modality="CT",
            target_lesions=[{**rf.LESION, "diameter_mm": diameter_mm}],
            new_lesions=new_lesions,
            non_target="non_cr_non_pd",
            today=day(offset),
        )

    def cbc(self, label: str, cycle: int, cycle_day: int, offset: int, anc: float = 3.0):
        return blood_counts.blood_count_record(
            patient=self.refresh(label),
            by=self.staff(label),
            drawn_on=day(offset),
            cycle_number=cycle,
            cycle_day=cycle_day,
            values={
                "anc": {"value": anc, "unit": "G/L"},
                "platelets": {"value": 250, "unit": "G/L"},
                "haemoglobin": {"value": 130, "unit": "g/L"},
            },
            today=day(offset),
        )

    def draw(self, label: str, sample_id: str, offset: int):
        return sample_record(
            by=self.staff(label),
            patient=self.refresh(label),
            sample_id=sample_id,
            drawn_on=day(offset),
            today=day(offset),
        )

    def result(self, label: str, sample, *, after_days: int, variants=(), failed=None):
        lab = self.data.labs["a" if label in SITE_A else "b"]
        analysed = sample.drawn_on + dt.timedelta(days=after_days)
        self.at((analysed - T0).days)
        body = {
            "sample_id": sample.sample_id,
            "patient_id": self.refresh(label).trial_number,
            "collected_on": sample.drawn_on.isoformat(),
            "analysed_on": analysed.isoformat(),
            "assay": "ddPCR",
            "status": "failed" if failed else "reported",
            "failure_reason": failed,
            "variants": list(variants),
        }
        submission = submission_record(
            lab=lab, channel="json", media_type="application/json", body=json.dumps(body).encode()
        )
        return ctdna_result_ingest(lab=lab, payload=body, submission=submission, today=analysed)

    # --- the story -----------------------------------------------------------------------
    def build(self) -> Dataset:
        self.at(0)
        dm = self.users["dm"]
        self.data.labs["a"] = lab_register(
            by=dm, code="LAB-A", name="Laboratoire A", sites=[self.sites["a"]]
        )
        self.data.labs["b"] = lab_register(
            by=dm, code="LAB-B", name="Laboratoire B", sites=[self.sites["b"]]
        )
        rf.active_design(statistician=self.users["stat"], version=self.pada1)
        for label in (*SITE_A, *SITE_B):
            self.enrol(label)
        self.screening()
        self.palatine_patients()
        self.step1()
        self.ctdna()
        self.gate()
        self.randomize()
        self.after_randomization()
        self.qol()
        self.saes()
        self.palatine_follow_up()
        self.at(800, hour=12)
        schedule.schedule_daily(today=TODAY)
        return self.data

    def screening(self) -> None:
        for label, overrides in (
            (
                "SF1",
                {
                    "ecog": {"value": 3, "unit": "score"},
                    "er_positive_cells": {"value": 5, "unit": "%"},
                },
            ),
            ("SF2", {"her2_status": "positive"}),
        ):
            by = self.staff(label)
            patient = self.registered(label, self.pada1)
            f.consented(by=by, patient=patient, today=T0)
            f.screened(by=by, patient=patient, today=T0, **overrides)
            self.data.patients[label] = patient_svc.patient_screen_fail(
                by=by, patient=patient, reason="not eligible"
            )
        patient = self.registered("S1", self.pada1)
        f.consented(by=self.users["inv_b"], patient=patient, today=T0)
        f.screened(by=self.users["inv_b"], patient=patient, today=T0)
        self.data.patients["S1"] = patient

    def palatine_patients(self) -> None:
        for label in ("P1", "P2", "P3"):
            by = self.staff(label)
            patient = self.registered(label, self.palatine)
            f.consented(by=by, patient=patient, today=T0)
            f.screened(by=by, patient=patient, today=T0, values=PALATINE_ELIGIBLE)
            self.data.patients[label] = patient_svc.patient_enrol(
                by=by, patient=patient, endocrine_drug="letrozole", planned_c1d1=day(7), today=T0
            )

    def step1(self) -> None:
        self.at(3)
        for label in ("A1", "A2", "B1", "R1", "R2", "R3", "R4"):
            self.assess(label, 3)
        self.at(7)
        for label in (*SITE_A, *SITE_B, "P1", "P2", "P3"):
            cycles.cycle_start(
                patient=self.refresh(label), on=day(7), by=self.staff(label), today=day(7)
            )
        for label in (*SITE_A, *SITE_B):
            if label != "A4":
                self.cbc(label, 1, 1, 7)
        self.at(21)
        self.cbc("A1", 1, 15, 21, anc=0.8)
        decision = self.cbc("B2", 1, 15, 21, anc=0.4).decision
        cycles.dose_decision_confirm(
            decision=decision, by=self.users["inv_b"], password=PASSWORD, today=day(21), dose_mg=100
        )

    def ctdna(self) -> None:
        self.at(7)
        baseline = {label: self.draw(label, f"{label}-0", 7) for label in (*SITE_A, *SITE_B)}
        for label, days in (("A1", 10), ("A2", 12), ("A3", 14), ("B1", 9), ("B3", 13)):
            self.result(label, baseline[label], after_days=days)
        for label in ("R1", "R2", "R3", "R4"):
            self.result(label, baseline[label], after_days=11)
        self.result("B2", baseline["B2"], after_days=5, failed="insufficient cfDNA")
        self.at(14)
        redraw = self.draw("B2", "B2-0b", 14)
        self.result("B2", redraw, after_days=11)
        self.at(35)
        second = {label: self.draw(label, f"{label}-1", 35) for label in (*RISING, "A3", "B3")}
        variant = {
            "gene": "ESR1",
            "protein_change": "p.D538G",
            "vaf": 0.0123,
            "copies_per_ml": 14.0,
        }
        with mock.patch("monitoring.services.outbox._publish"):
            for label in RISING:
                self.result(label, second[label], after_days=10, variants=[variant])
            for label in ("A3", "B3"):
                self.result(label, second[label], after_days=10)
        self.at(45, hour=10)
        outbox_drain()

    def gate(self) -> None:
        self.at(50)
        self.assess("A1", 50, diameter_mm=28)
        self.assess("B1", 50, diameter_mm=29)
        self.assess("A2", 50, new_lesions=True)
        for label in ("R1", "R2", "R3", "R4"):
            self.assess(label, 50, diameter_mm=29)

    def randomize(self) -> None:
        self.at(55)
        for label in ("A1", "B1", "R1", "R2", "R3", "R4"):
            patient = patient_svc.patient_update(
                by=self.staff(label),
                patient=self.refresh(label),
                changes={"stratification": STRATA[label]},
                reason="stratification at randomization",
            )
            outcome = patient_randomize(
                patient=patient,
                by=self.staff(label),
                password=PASSWORD,
                idempotency_key=f"dash-{label}",
                today=RANDOMIZED_ON,
            )
            self.data.allocations[label] = outcome.allocation

    def after_randomization(self) -> None:
        schedule_of = []
        for label, (days, progression, death) in PFS_PLAN.items():
            for index, offset in enumerate(days):
                last = index == len(days) - 1
                schedule_of.append((55 + offset, label, progression and last))
            if death is not None:
                schedule_of.append((55 + death, label, "death"))
        for offset, label, what in sorted(schedule_of, key=lambda e: (e[0], e[1])):
            self.at(offset)
            if what == "death":
                event = adverse_events.adverse_event_record(
                    patient=self.refresh(label),
                    by=self.staff(label),
                    term="Sepsis",
                    grade=5,
                    onset_on=day(offset),
                    attribution="unlikely",
                    serious=True,
                    today=day(offset),
                )
                self.at(offset + 2)  # reported after its 24-hour clock: late
                adverse_events.adverse_event_sae_report(event=event, by=self.staff(label))
                continue
            self.assess(label, offset, diameter_mm=40 if what else 29)
            arm = self.data.allocations[label].arm
            if what and arm == "A" and self.data.crossed_over is None:
                self.at(offset + 7)
                patient_crossover(
                    patient=self.refresh(label),
                    by=self.staff(label),
                    password=PASSWORD,
                    today=day(offset + 7),
                )
                self.data.crossed_over = label

    def qol(self) -> None:
        for offset, label, health in (
            (7, "A3", 6),
            (7, "B3", 5),
            (7, "A4", 6),
            (63, "A3", 4),
            (63, "B3", 5),
        ):
            self.at(offset)
            qol.qol_submit(
                patient=self.refresh(label),
                by=self.staff(label),
                completed_on=day(offset),
                responses=qlq_answers(health),
                today=day(offset),
            )

    def saes(self) -> None:
        self.at(30)
        event = adverse_events.adverse_event_record(
            patient=self.refresh("A3"),
            by=self.users["inv_a"],
            term="Febrile neutropenia",
            grade=3,
            onset_on=day(30),
            attribution="probable",
            serious=True,
            today=day(30),
        )
        self.at(30, hour=15)
        adverse_events.adverse_event_sae_report(event=event, by=self.users["inv_a"])
        self.at(795)
        adverse_events.adverse_event_record(
            patient=self.refresh("B3"),
            by=self.users["inv_b"],
            term="Pneumonia",
            grade=3,
            onset_on=day(795),
            attribution="unlikely",
            serious=True,
            today=day(795),
        )

    def palatine_follow_up(self) -> None:
        for label, offset, status, death in (
            ("P3", 200, "alive", None),
            ("P2", 310, "dead", 300),
            ("P1", 760, "alive", None),
        ):
            self.at(offset)
            palatine.survival_contact_record(
                patient=self.refresh(label),
                by=self.staff(label),
                contacted_on=day(offset),
                method="phone",
                vital_status=status,
                today=day(offset),
                death_on=None if death is None else day(death),
            )


def pfs_records(data: Dataset, *, by_arm: bool) -> list[SurvivalRecord]:
    """PFS from randomization by hand from PFS_PLAN: months, event, arm (or pooled), stratum."""
    records = []
    for label, (days, progression, death) in PFS_PLAN.items():
        allocation = data.allocations[label]
        end, event = (death, True) if death is not None else (days[-1], progression)
        group = allocation.arm if by_arm else "all"
        records.append(SurvivalRecord(days_to_months(end), event, group, allocation.stratum))
    return records


def build(*, users: dict, sites: dict, pada1, palatine_version) -> Dataset:
    """Build the dataset with the clock at each event's date; the clock ends on TODAY noon."""
    start = dt.datetime.combine(T0, dt.time(9), tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        return _Builder(traveller, users, sites, pada1, palatine_version).build()
