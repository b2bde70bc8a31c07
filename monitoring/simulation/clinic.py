"""What the simulated sites do: screen and enrol, work through the product's calendar, react
to blood counts, rising mutations, imaging and progression. Every record goes through the
product's services or its REST API, as a site's staff would enter it.

The sites follow the calendar the product keeps (``ScheduleItem``): each day they do the items
planned for that day (imaging on a day inside its +-7-day window), never the ones the product
shows as held. Where the protocol leaves the decision to the investigator (sign a proposed dose
decision, choose to reduce on "consider reduction", offer the crossover), the simulated
investigator decides with the scenario's probabilities and signs with their password.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.urls import reverse

from trial.exceptions import DomainError
from trial.models import (
    ItemKind,
    ItemStatus,
    Patient,
    ScheduleItem,
    Step2Trigger,
    TreatmentLine,
    TriggerStatus,
)
from trial.rules.palbociclib import DoseAction
from trial.services import blood_counts, cycles, patients, qol, tumour

from .cohort import (
    Marrow,
    PatientPlan,
    Tumour,
    clone_level,
    ctdna_variants,
    patient_rng,
    uniform_days,
)
from .world import LabAccount, SimulationError, SiteTeam

if TYPE_CHECKING:
    from .engine import Simulation

DAY = dt.timedelta(days=1)
HOLD_ACTIONS = frozenset(
    {
        DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS,
        DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE,
        DoseAction.WITHHOLD_UNTIL_RECOVERY_SAME_DOSE,
        DoseAction.CONSIDER_REDUCTION,
    }
)
# Order of a visit's work: the count before the cycle starts, the draw, forms and scans after.
KIND_ORDER = {
    ItemKind.CYCLE_VISIT: 0,
    ItemKind.BLOOD_COUNT: 1,
    ItemKind.FULVESTRANT_INJECTION: 2,
    ItemKind.CTDNA: 3,
    ItemKind.QOL: 4,
    ItemKind.IMAGING: 5,
}
PATIENT_LEVEL_KINDS = frozenset({ItemKind.CTDNA, ItemKind.QOL, ItemKind.IMAGING})
TREATED_PHASES = frozenset({"step1", "arm_a", "arm_b", "step3"})
ELIGIBLE_SCREENING = {
    "sex": "female",
    "disease_stage": "metastatic",
    "adjuvant_ai_end_date": None,
    "life_expectancy": {"value": 24, "unit": "months"},
    "ecog": {"value": 1, "unit": "score"},
    "er_positive_cells": {"value": 80, "unit": "%"},
    "her2_status": "negative",
    "tissue": True,
    "no_prior_systemic_mbc": True,
    "menopausal_status": "postmenopausal",
    "haemoglobin": {"value": 12.1, "unit": "g/dL"},
    "wbc": {"value": 5.2, "unit": "G/L"},
    "platelets": {"value": 250, "unit": "G/L"},
    "organ_function": True,
    "recovered": True,
    "social_security": True,
    "prior_cdk46": False,
    "brain_mets": False,
    "last_major_surgery_date": None,
    "cyp3a4": False,
    "hypertension": False,
    "arrhythmia": False,
    "last_myocardial_infarction_date": None,
    "hepatitis": False,
    "hiv": False,
    "other_cancer": False,
    "hepatic": False,
    "hypersensitivity": False,
    "pregnancy": False,
    "swallow": False,
}
# The value that fails each criterion the scenario lists as a screen-failure reason.
FAILING_VALUES: dict[str, dict[str, Any]] = {
    "er": {"er_positive_cells": {"value": 5, "unit": "%"}},
    "ecog": {"ecog": {"value": 3, "unit": "score"}},
    "platelets": {"platelets": {"value": 85, "unit": "G/L"}},
    "hb": {"haemoglobin": {"value": 8.4, "unit": "g/dL"}},
    "brain_mets": {"brain_mets": True},
    "prior_cdk46": {"prior_cdk46": True},
    "ai_sensitive": {},  # dates, see _screening_values
}


@dataclass
class PatientRun:
    """The simulator's view of one patient: the plan, and what it needs to remember of the
    records it made (the product holds the records themselves)."""

    plan: PatientPlan
    team: SiteTeam
    lab: LabAccount
    rng: random.Random
    ctdna_rng: random.Random
    qol_rng: random.Random
    marrow: Marrow
    tumour: Tumour
    patient: Patient | None = None
    phase: str = "planned"
    epoch: int = 0
    line_id: int | None = None
    cycles: dict[int, dt.date] = field(default_factory=dict)
    hold: bool = False
    reductions: int = 0
    c1d1: dt.date | None = None
    esr1_on: dt.date | None = None
    clone: tuple[float, float] | None = None
    progression_on: dt.date | None = None
    draws: int = 0
    last_imaging: dt.date | None = None
    awaiting_trigger: bool = False
    trigger_seen: int | None = None
    detected_on: dt.date | None = None
    arm: str | None = None
    line_ordinals: dict[int, int] = field(default_factory=dict)


class Clinic:
    def __init__(self, sim: Simulation):
        self.sim = sim
        self.world = sim.world
        self.scenario = sim.config.scenario
        self.password = sim.world.staffing.password
        self.by_patient: dict[int, PatientRun] = {}
        self.phases: Counter[str] = Counter()

    # --- bookkeeping -------------------------------------------------------------------------

    def plan_runs(self, plans: list[PatientPlan]) -> list[PatientRun]:
        runs = []
        seed = self.sim.config.seed
        for plan in plans:
            run = PatientRun(
                plan=plan,
                team=self.world.teams[plan.site_index],
                lab=self.world.lab_of_site[plan.site_index],
                rng=patient_rng(seed, plan.index),
                ctdna_rng=patient_rng(seed, plan.index, "ctdna"),
                qol_rng=patient_rng(seed, plan.index, "qol"),
                marrow=Marrow(plan, self.scenario, patient_rng(seed, plan.index, "marrow")),
                tumour=Tumour(plan, patient_rng(seed, plan.index, "tumour")),
            )
            runs.append(run)
            self.phases[run.phase] += 1
            self.sim.plan(self.sim.first_day + plan.registered_day * DAY, run, "register")
        return runs

    def census(self) -> Counter[str]:
        return self.phases

    def set_phase(self, run: PatientRun, phase: str) -> None:
        self.phases[run.phase] -= 1
        self.phases[phase] += 1
        run.phase = phase

    def fail(self, day: dt.date, run: PatientRun | None, message: str) -> None:
        who = "" if run is None else f" patient #{run.plan.index + 1} ({run.patient or 'new'})"
        raise SimulationError(f"{day}{who}: {message}")

    def act(self, run: PatientRun, action: str, day: dt.date, epoch: int, *args: Any) -> None:
        if epoch != run.epoch:
            return  # planned for a line or step the patient has since left
        try:
            getattr(self, f"_on_{action}")(run, day, *args)
        except DomainError as error:
            self.fail(day, run, f"{action}: {error.code} {error.details}")

    def _refresh(self, run: PatientRun) -> None:
        assert run.patient is not None
        run.patient.refresh_from_db(fields=["status", "step", "trial_number", "enrolled_on"])
        run.line_id = (
            TreatmentLine.objects.filter(patient=run.patient, ended_on=None)
            .values_list("pk", flat=True)
            .first()
        )
        if run.line_id is not None:
            run.line_ordinals.setdefault(run.line_id, len(run.line_ordinals) + 1)

    def _new_line(self, run: PatientRun, phase: str) -> None:
        """The patient's line or step changed: actions planned for the old one lapse."""
        run.epoch += 1
        run.cycles = {}
        run.hold = False
        self._refresh(run)
        self.set_phase(run, phase)

    # --- screening and enrolment -------------------------------------------------------------

    def _on_register(self, run: PatientRun, day: dt.date) -> None:
        team, plan = run.team, run.plan
        run.patient = self.sim.meter.call(
            "patient_register",
            patients.patient_register,
            by=team.coordinator,
            site=team.site,
            protocol_version=self.world.version,
            screening_number=f"SCR-{plan.index + 1:05d}",
            year_of_birth=day.year - plan.age,
            sex="female",
            menopausal_status="postmenopausal",
        )
        self.sim.meter.call(
            "consent_record",
            patients.consent_record,
            by=team.coordinator,
            patient=run.patient,
            form_version="ICF-1.0",
            consented_on=day,
            taken_by=team.investigator,
            today=day,
        )
        self.by_patient[run.patient.pk] = run
        self.set_phase(run, "screening")
        self.sim.plan(day + plan.screening_after_days * DAY, run, "screen")

    def _screening_values(self, run: PatientRun, day: dt.date) -> dict[str, Any]:
        values = dict(ELIGIBLE_SCREENING)
        values["age"] = {"value": run.plan.age, "unit": "years"}
        values["relapse_date"] = (day - 60 * DAY).isoformat()
        failure = run.plan.screen_failure
        if failure == "ai_sensitive":  # relapse within a year of the end of adjuvant AI
            values["adjuvant_ai_end_date"] = (day - 260 * DAY).isoformat()
        elif failure:
            values.update(FAILING_VALUES[failure])
        return values

    def _on_screen(self, run: PatientRun, day: dt.date) -> None:
        team = run.team
        assessment = self.sim.meter.call(
            "eligibility_submit",
            patients.eligibility_submit,
            by=team.coordinator,
            patient=run.patient,
            submitted=self._screening_values(run, day),
            screening_date=day,
            today=day,
        )
        failure = run.plan.screen_failure
        failing = [f["id"] for f in assessment.failures]
        if assessment.eligible == bool(failure) or (failure and failing != [failure]):
            self.fail(day, run, f"eligibility {failing} does not match the plan ({failure})")
        if failure:
            self.sim.meter.call(
                "patient_screen_fail",
                patients.patient_screen_fail,
                by=team.investigator,
                patient=run.patient,
                reason=f"criterion {failure} not met",
            )
            self.set_phase(run, "screen_failed")
            return
        self.sim.plan(day + DAY, run, "enrol")

    def _on_enrol(self, run: PatientRun, day: dt.date) -> None:
        team, plan = run.team, run.plan
        self.sim.meter.call(
            "patient_enrol",
            patients.patient_enrol,
            by=team.investigator,
            patient=run.patient,
            endocrine_drug=plan.endocrine_drug,
            planned_c1d1=day + plan.c1d1_after_enrolment_days * DAY,
            today=day,
        )
        self._refresh(run)
        self.set_phase(run, "step1")
        self.sim.meter.call(
            "tumour_assessment_record",
            tumour.tumour_assessment_record,
            patient=run.patient,
            by=team.investigator,
            assessed_on=day,
            modality="CT",
            target_lesions=run.tumour.baseline(),
            new_lesions=False,
            non_target="non_cr_non_pd",
            today=day,
        )
        run.last_imaging = day

    # --- the calendar ------------------------------------------------------------------------

    def _imaging_day(self, run: PatientRun, line_id: int, key: str, planned_on: dt.date):
        """The day inside the imaging window the site books the scan: stable per item, and
        independent of the calendar dates (a run shifted in time books the same days)."""
        jitter = self.scenario.imaging_jitter_days
        line = run.line_ordinals.get(line_id, 0)
        digest = zlib.crc32(f"{self.sim.config.seed}:{run.plan.index}:{line}:{key}".encode())
        return planned_on + (digest % (2 * jitter + 1) - jitter) * DAY

    def calendar_rows(self, day: dt.date) -> list[tuple]:
        """The open items of every site's calendar to do today (one query)."""
        jitter = self.scenario.imaging_jitter_days * DAY
        return list(
            ScheduleItem.objects.filter(status=ItemStatus.DUE, held=False, window_opens__lte=day)
            .filter(
                Q(planned_on=day)
                | Q(
                    kind=ItemKind.IMAGING,
                    planned_on__gte=day - jitter,
                    planned_on__lte=day + jitter,
                )
            )
            .values_list("patient_id", "line_id", "kind", "key", "cycle", "cycle_day", "planned_on")
        )

    def calendar_day(self, day: dt.date, rows: list[tuple]) -> None:
        """Every site works through the items of the product's calendar planned for today."""
        by_patient: dict[int, list[tuple]] = defaultdict(list)
        for row in rows:
            by_patient[row[0]].append(row)
        visits = sorted(
            ((self.by_patient[pid], items) for pid, items in by_patient.items()
             if pid in self.by_patient),
            key=lambda pair: pair[0].plan.index,
        )  # fmt: skip
        for run, items in visits:
            try:
                self._visit(run, items, day)
            except DomainError as error:
                self.fail(day, run, f"visit {[i[3] for i in items]}: {error.code} {error.details}")

    def _visit(self, run: PatientRun, items: list[tuple], day: dt.date) -> None:
        keys = {item[3] for item in items if item[1] == run.line_id}
        for _pid, line_id, kind, key, cycle, cycle_day, planned_on in sorted(
            items, key=lambda item: (KIND_ORDER.get(item[2], 9), item[3])
        ):
            if run.phase not in TREATED_PHASES:
                return
            if line_id != run.line_id and kind not in PATIENT_LEVEL_KINDS:
                continue
            if kind == ItemKind.CYCLE_VISIT:
                self._cycle_visit(run, day, cycle, keys)
            elif kind == ItemKind.BLOOD_COUNT and cycle_day not in (None, 1):
                self._scheduled_count(run, day, cycle, cycle_day)
            elif kind == ItemKind.FULVESTRANT_INJECTION:
                self.sim.meter.call(
                    "fulvestrant_injection_record",
                    cycles.fulvestrant_injection_record,
                    patient=run.patient,
                    on=day,
                    by=run.team.coordinator,
                    today=day,
                )
            elif kind == ItemKind.CTDNA and planned_on == day:
                self._draw(run, day)
            elif kind == ItemKind.QOL and planned_on == day:
                self._questionnaire(run, day)
            elif (
                kind == ItemKind.IMAGING and self._imaging_day(run, line_id, key, planned_on) == day
            ):
                self._imaging(run, day)

    # --- cycles, blood counts and dose decisions ---------------------------------------------

    def _cycle_visit(self, run: PatientRun, day: dt.date, number: int, keys: set[str]) -> None:
        if number <= len(run.cycles) or run.hold:
            return
        if number != len(run.cycles) + 1:
            self.fail(day, run, f"cycle visit C{number} after C{len(run.cycles)}")
        if f"blood_count:C{number}D1" in keys or (number == 1 and "blood_count:baseline" in keys):
            result = self._count(run, day, number, 1)
            if self._sign(run, result, day, number) == "hold":
                self.sim.plan(day + 7 * DAY, run, "recovery")
                return
        self._start_cycle(run, day)

    def _start_cycle(self, run: PatientRun, day: dt.date) -> None:
        cycle = self.sim.meter.call(
            "cycle_start",
            cycles.cycle_start,
            patient=run.patient,
            on=day,
            by=run.team.investigator,
            today=day,
        )
        run.cycles[cycle.number] = day
        if run.phase == "step1" and cycle.number == 1:
            self._step1_started(run, day)
        if run.rng.random() < self.scenario.cycle_delay_fraction:
            self.sim.plan(day + 20 * DAY, run, "delay", cycle.number + 1)

    def _step1_started(self, run: PatientRun, c1d1: dt.date) -> None:
        plan = run.plan
        run.c1d1 = c1d1
        if plan.will_rise:
            run.esr1_on = c1d1 + math.ceil(plan.esr1_after_c1d1_days) * DAY
        else:
            self._progression_at(
                run, c1d1 + math.ceil(plan.step1_progression_after_c1d1_days) * DAY
            )

    def _count(self, run: PatientRun, day: dt.date, cycle: int, cycle_day: int, repeat=False):
        marrow = run.marrow
        anc = marrow.anc(cycle=cycle, day=cycle_day, repeat=repeat, reductions=run.reductions)
        fever = 38.7 if anc < 1 and marrow.febrile() else None
        return self.sim.meter.call(
            "blood_count_record",
            blood_counts.blood_count_record,
            patient=run.patient,
            by=run.team.coordinator,
            drawn_on=day,
            cycle_number=cycle,
            cycle_day=cycle_day,
            values=marrow.values(anc),
            temperature_c=fever,
            today=day,
        )

    def _sign(self, run: PatientRun, result, day: dt.date, cycle: int) -> str:
        """The investigator signs the proposal the count produced; what it means for the site."""
        decision = result.decision
        if decision is None:
            return "continue"
        dose = None
        if decision.action == DoseAction.CONSIDER_REDUCTION:
            accept = run.rng.random() < self.scenario.consider_reduction_accepted
            dose = decision.proposed_next_dose_mg if accept else decision.current_dose_mg
        signed = self.sim.meter.call(
            "dose_decision_confirm", cycles.dose_decision_confirm,
            decision=decision, by=run.team.investigator, password=self.password, today=day,
            dose_mg=dose,
        )  # fmt: skip
        if (
            signed.confirmed_dose_mg is not None
            and signed.confirmed_dose_mg < signed.current_dose_mg
        ):
            run.reductions += 1
        if signed.action in HOLD_ACTIONS:
            run.hold = True
            return "hold"
        if signed.action == DoseAction.CONTINUE_REPEAT_CBC_D22:
            self.sim.plan(run.cycles[cycle] + 21 * DAY, run, "d22", cycle)
        return "continue"

    def _scheduled_count(self, run: PatientRun, day: dt.date, cycle: int, cycle_day: int):
        if cycle not in run.cycles:
            return
        result = self._count(run, day, cycle, cycle_day)
        if self._sign(run, result, day, cycle) == "hold":
            self._plan_recovery(run, day, cycle)

    def _plan_recovery(self, run: PatientRun, day: dt.date, cycle: int) -> None:
        next_d1 = run.cycles[cycle] + 28 * DAY
        self.sim.plan(max(day + 7 * DAY, next_d1), run, "recovery")

    def _on_d22(self, run: PatientRun, day: dt.date, cycle: int) -> None:
        if cycle != len(run.cycles) or run.hold:
            return
        result = self._count(run, day, cycle, 22, repeat=True)
        if self._sign(run, result, day, cycle) == "hold":
            self._plan_recovery(run, day, cycle)

    def _on_recovery(self, run: PatientRun, day: dt.date) -> None:
        """The repeat count of a withheld cycle; the hold closes once the grade allows."""
        if not run.hold:
            return
        pending = len(run.cycles) + 1
        result = self._count(run, day, pending, 1, repeat=True)
        run.hold = False  # a new withholding decision below opens it again
        if self._sign(run, result, day, pending) == "hold" or result.grades.worst_grade > 2:
            run.hold = True
            self.sim.plan(day + 7 * DAY, run, "recovery")
            return
        anc = result.blood_count.anc_g_per_l
        cycle = self.sim.meter.call(
            "cycle_hold_release",
            cycles.cycle_hold_release,
            patient=run.patient,
            on=day,
            reason=f"ANC {anc} G/L: grade <= 2",
            by=run.team.investigator,
            today=day,
        )
        if cycle.planned_d1 <= day:
            self._start_cycle(run, day)

    def _on_delay(self, run: PatientRun, day: dt.date, number: int) -> None:
        if run.hold or number != len(run.cycles) + 1:
            return
        self.sim.meter.call(
            "cycle_delay",
            cycles.cycle_delay,
            patient=run.patient,
            planned_d1=run.cycles[number - 1] + 35 * DAY,
            reason="the patient asked to postpone the visit by a week",
            by=run.team.investigator,
            today=day,
        )

    # --- ctDNA -------------------------------------------------------------------------------

    def _draw(self, run: PatientRun, day: dt.date) -> None:
        """The site records the draw through the samples API; the lab's answer is queued for
        the day the analysis is done."""
        plan, patient = run.plan, run.patient
        assert patient is not None
        run.draws += 1
        sample_id = f"SIM{self.sim.config.seed}-{plan.index + 1:05d}-{run.draws:03d}"
        run.team.coordinator_api.post(  # type: ignore[union-attr]
            reverse("patient-samples", args=[patient.pk]),
            {"sample_id": sample_id, "drawn_on": day.isoformat()},
            expect=201,
            operation="POST patients/{id}/samples",
        )
        if run.esr1_on is not None and day >= run.esr1_on and run.clone is None:
            run.clone = clone_level(plan, run.ctdna_rng)
            if run.phase == "step1" and plan.synchronous_progression:
                run.progression_on = day  # progression found by the next scan
        failed = run.ctdna_rng.random() < self.scenario.technical_failure_rate
        turnaround = math.exp(
            run.ctdna_rng.gauss(
                math.log(self.scenario.turnaround_median_days), self.scenario.turnaround_log_sd
            )
        )
        analysed_on = day + max(2, min(60, round(turnaround))) * DAY
        self.sim.queue_result(
            analysed_on,
            run.lab.lab.code,
            {
                "sample_id": sample_id,
                "patient_id": patient.trial_number,
                "collected_on": day.isoformat(),
                "analysed_on": analysed_on.isoformat(),
                "assay": "ddPCR",
                "status": "failed" if failed else "reported",
                "failure_reason": "insufficient cfDNA" if failed else None,
                "variants": [] if failed else ctdna_variants(plan, run.ctdna_rng, run.clone),
            },
        )
        if failed:
            self.sim.plan(
                analysed_on + uniform_days(run.ctdna_rng, self.scenario.redraw_after_days) * DAY,
                run,
                "redraw",
            )

    def _on_redraw(self, run: PatientRun, day: dt.date) -> None:
        if run.phase in TREATED_PHASES:
            self._draw(run, day)

    def trigger_outcome(self, patient_id: int, trigger: Step2Trigger | None, day: dt.date):
        """The site learns what a rising result did (the notification e-mail, in real life)."""
        run = self.by_patient[patient_id]
        if trigger is None or run.phase != "step1" or trigger.pk == run.trigger_seen:
            return
        run.trigger_seen = trigger.pk
        run.detected_on = run.detected_on or trigger.detected_on
        if trigger.status == TriggerStatus.IMAGING_REQUIRED:
            run.awaiting_trigger = True
            if run.plan.step2_window_missed:
                self._window_missed(run)
            else:
                bounds = self.scenario.trigger_imaging_after_days
                self.sim.plan(day + uniform_days(run.rng, bounds) * DAY, run, "trigger_imaging")
        elif trigger.status == TriggerStatus.ELIGIBLE:
            self._eligible(run, day, trigger)

    def _window_missed(self, run: PatientRun) -> None:
        """Imaging or randomization not done in time: Step 1 goes on as before."""
        run.awaiting_trigger = False
        assert run.detected_on is not None
        self._progression_at(run, run.detected_on + math.ceil(run.plan.pfs_days["A"]) * DAY)

    def _eligible(self, run: PatientRun, day: dt.date, trigger: Step2Trigger) -> None:
        """Randomize within the trigger's window (it may be short when the deciding scan
        came before the result)."""
        run.awaiting_trigger = False
        if run.plan.step2_window_missed:
            self._window_missed(run)
            return
        planned = day + uniform_days(run.rng, self.scenario.randomize_after_days) * DAY
        assert trigger.randomize_by is not None
        self.sim.plan(max(day, min(planned, trigger.randomize_by)), run, "randomize")

    def _check_trigger(self, run: PatientRun, day: dt.date) -> None:
        trigger = Step2Trigger.objects.filter(patient=run.patient).order_by("-pk").first()
        if trigger is None or trigger.status == TriggerStatus.IMAGING_REQUIRED:
            return
        run.awaiting_trigger = False
        if trigger.status == TriggerStatus.ELIGIBLE:
            self._eligible(run, day, trigger)

    def _on_trigger_imaging(self, run: PatientRun, day: dt.date) -> None:
        if run.awaiting_trigger:
            self._imaging(run, day)

    # --- imaging, progression, randomization, crossover --------------------------------------

    def _imaging(self, run: PatientRun, day: dt.date) -> None:
        if run.last_imaging is not None and day <= run.last_imaging:
            return
        progression = run.progression_on is not None and day >= run.progression_on
        assessment = self.sim.meter.call(
            "tumour_assessment_record",
            tumour.tumour_assessment_record,
            patient=run.patient,
            by=run.team.investigator,
            assessed_on=day,
            modality="CT",
            target_lesions=run.tumour.follow_up(progression=progression),
            new_lesions=progression,
            non_target="non_cr_non_pd",
            today=day,
        )
        run.last_imaging = day
        if assessment.progression != progression:
            self.fail(day, run, f"RECIST {assessment.overall_response}, planned {progression}")
        if progression:
            self._progressed(run, day)
        elif run.awaiting_trigger:
            self._check_trigger(run, day)

    def _progression_at(self, run: PatientRun, on: dt.date) -> None:
        """Disease progresses on ``on``: the next scheduled scan finds it, or for a share of
        patients symptoms bring an unscheduled scan within two weeks."""
        run.progression_on = on
        if run.rng.random() < self.scenario.clinical_detection_fraction:
            bounds = self.scenario.clinical_detection_days
            self.sim.plan(on + uniform_days(run.rng, bounds) * DAY, run, "clinical_imaging")

    def _on_clinical_imaging(self, run: PatientRun, day: dt.date) -> None:
        if run.phase in TREATED_PHASES and run.line_id is not None:
            self._imaging(run, day)

    def _progressed(self, run: PatientRun, day: dt.date) -> None:
        run.awaiting_trigger = False
        run.progression_on = None
        if run.phase == "arm_a":
            self._new_line(run, "arm_a_progressed")
            if run.plan.crosses_over:
                bounds = self.scenario.crossover_after_days
                self.sim.plan(day + uniform_days(run.rng, bounds) * DAY, run, "crossover")
            return
        self._new_line(run, "follow_up")

    def _on_randomize(self, run: PatientRun, day: dt.date) -> None:
        plan, patient, team = run.plan, run.patient, run.team
        assert patient is not None and run.detected_on is not None and run.c1d1 is not None
        long_on_step1 = (run.detected_on - run.c1d1).days >= 365
        self.sim.meter.call(
            "patient_update",
            patients.patient_update,
            by=team.investigator,
            patient=patient,
            changes={
                "stratification": {
                    **(patient.stratification or {}),
                    "visceral_metastases": "yes" if plan.visceral_metastases else "no",
                    "time_on_step1": "ge_12_months" if long_on_step1 else "lt_12_months",
                }
            },
            reason="stratification factors recorded at randomization",
        )
        answer = team.investigator_api.post(  # type: ignore[union-attr]
            reverse("patient-randomize", args=[patient.pk]),
            {"password": self.password},
            expect=200,
            operation="POST patients/{id}/randomize",
            HTTP_IDEMPOTENCY_KEY=f"sim-{self.sim.config.seed}-{plan.index + 1}",
        )
        run.arm = answer["arm"]
        if run.arm == "B":
            self._new_line(run, "arm_b")
        else:
            self._refresh(run)
            self.set_phase(run, "arm_a")
        self._progression_at(run, day + math.ceil(plan.pfs_days[run.arm]) * DAY)

    def _on_crossover(self, run: PatientRun, day: dt.date) -> None:
        patient = run.patient
        assert patient is not None
        run.team.investigator_api.post(  # type: ignore[union-attr]
            reverse("patient-crossover", args=[patient.pk]),
            {"password": self.password},
            expect=201,
            operation="POST patients/{id}/crossover",
        )
        self._new_line(run, "step3")
        self._progression_at(run, day + math.ceil(run.plan.step3_pfs_days) * DAY)

    # --- questionnaires ----------------------------------------------------------------------

    def _questionnaire(self, run: PatientRun, day: dt.date) -> None:
        rng = run.qol_rng
        if rng.random() >= self.scenario.qol_compliance:
            return  # not filled in: the product records it as missed
        responses = {str(item): rng.randint(1, 4) for item in range(1, 29)}
        responses |= {"29": rng.randint(3, 7), "30": rng.randint(3, 7)}
        self.sim.meter.call(
            "qol_submit",
            qol.qol_submit,
            patient=run.patient,
            by=run.team.coordinator,
            completed_on=day,
            responses=responses,
            today=day,
        )
