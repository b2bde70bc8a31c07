"""The simulation's report: the simulated figures beside the published ones.

Every simulated figure is read back from what the product recorded, with the product's own
selectors and analysis code: PFS from ``randomization.selectors.pfs.pfs_from_randomization``
(read as the statistician), medians, hazard ratio and log-rank from
``monitoring.analysis.survival.compare_arms`` (stratified by the allocation's stratum),
proportions with ``monitoring.analysis.rates.wilson_interval`` and the neutropenia rate with
``haem_toxicity_rates``. The published figures and their sources are in
:data:`monitoring.simulation.scenario.PUBLISHED`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Count, F, Max, Min

from monitoring.analysis import days_to_months
from monitoring.analysis.rates import HaemToxicityRecord, haem_toxicity_rates, wilson_interval
from monitoring.analysis.survival import SurvivalRecord, compare_arms, regular_times
from monitoring.models import CtdnaResult, PatientCtdnaStatus, Sample
from randomization.models import Allocation, Crossover
from randomization.selectors.pfs import pfs_from_randomization
from trial.models import (
    AuditEvent,
    BloodCount,
    DecisionStatus,
    DoseDecision,
    EligibilityAssessment,
    ItemStatus,
    Patient,
    PatientStatus,
    ScheduleItem,
    Step2Trigger,
)

from .environment import CountingEmailBackend
from .scenario import PUBLISHED

if TYPE_CHECKING:
    from .engine import SimulationResult


@dataclass(frozen=True)
class Row:
    label: str
    simulated: str
    published: str = ""
    source: str = ""


@dataclass
class Report:
    """``figures``: the key numbers (same seed, same figures); ``markdown``: the report."""

    seed: int
    figures: dict[str, Any] = field(default_factory=dict)
    sections: list[tuple[str, list[Row]]] = field(default_factory=list)
    operations: list[tuple[str, int, float, float, float]] = field(default_factory=list)
    markdown: str = ""


def _pct(successes: int, n: int) -> str:
    rate = wilson_interval(successes, n)
    if rate.estimate is None:
        return "n/a (no patients)"
    return (
        f"{100 * rate.estimate:.1f} % ({successes}/{n}; 95 % CI "
        f"{100 * rate.ci_lower:.1f}-{100 * rate.ci_upper:.1f})"  # type: ignore[operator]
    )


def _months(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f}"


def _median(median) -> str:
    if median.months is None:
        return f"not reached ({median.status})"
    return (
        f"{median.months:.1f} months (95 % CI {_months(median.ci_lower_months)}-"
        f"{_months(median.ci_upper_months)})"
    )


def _published(key: str) -> tuple[str, str]:
    figure = PUBLISHED[key]
    return figure.value, figure.source


class _Builder:
    def __init__(self, result: SimulationResult):
        self.result = result
        self.report = Report(seed=result.config.seed)
        self.protocol_id = result.world.version.protocol_id
        self.patients = Patient.objects.filter(protocol_id=self.protocol_id)
        self.enrolled = list(
            self.patients.filter(enrolled_on__isnull=False).values_list("pk", "enrolled_on")
        )
        self.enrolled_on = dict(self.enrolled)

    def add(self, title: str, rows: list[Row]) -> None:
        self.report.sections.append((title, rows))

    def figure(self, key: str, value: Any) -> Any:
        self.report.figures[key] = value
        return value

    # --- sections ----------------------------------------------------------------------------

    def run_section(self) -> None:
        result, config = self.result, self.result.config
        follow_up = [
            days_to_months((result.last_day - enrolled_on).days)
            for _pk, enrolled_on in self.enrolled
        ]
        median_fu = statistics.median(follow_up) if follow_up else None
        self.figure("median_follow_up_months", None if median_fu is None else round(median_fu, 1))
        value, source = _published("follow_up")
        self.add(
            "Run",
            [
                Row("Patients, sites, seed", f"{config.patients}, {config.sites}, {config.seed}"),
                Row(
                    "Simulated period",
                    f"{result.first_day} to {result.last_day} ({config.months:g} months; accrual "
                    f"{config.scenario.accrual_months(config.months):.0f} months)",
                ),
                Row(
                    "Median follow-up from inclusion", f"{_months(median_fu)} months", value, source
                ),
            ],
        )

    def screening_section(self) -> None:
        statuses = Counter(self.patients.values_list("status", flat=True))
        registered = sum(statuses.values())
        failed = statuses[PatientStatus.SCREEN_FAILED]
        self.figure("registered", registered)
        self.figure("screen_failed", failed)
        self.figure("enrolled", len(self.enrolled))
        reasons: Counter[str] = Counter()
        latest = EligibilityAssessment.objects.filter(
            patient__in=self.patients, patient__status=PatientStatus.SCREEN_FAILED
        ).values_list("failures", flat=True)
        for failures in latest:
            reasons.update(f["id"] for f in failures)
        by_reason = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"
        scenario = self.result.config.scenario
        self.add(
            "Screening and enrolment",
            [
                Row("Registered", str(registered)),
                Row(
                    "Screen failures",
                    _pct(failed, failed + len(self.enrolled)),
                    f"{100 * scenario.screen_failure_rate:.0f} % (assumed)",
                    "[A] no public PADA-1 figure",
                ),
                Row("Screen failures by criterion", by_reason),
                Row("Enrolled (Step 1)", str(len(self.enrolled))),
                Row("Still in screening on the last day", str(statuses[PatientStatus.SCREENING])),
            ],
        )

    def esr1_section(self) -> None:
        first_rising = dict(
            CtdnaResult.objects.filter(
                patient__in=self.patients, patient_status=PatientCtdnaStatus.RISING
            )
            .values("patient_id")
            .annotate(first=Min("analysed_on"))
            .values_list("patient_id", "first")
        )
        n = len(self.enrolled)
        risers = len(first_rising)
        months = [
            days_to_months((first - self.enrolled_on[pk]).days)
            for pk, first in first_rising.items()
        ]
        median = statistics.median(months) if months else None
        allocated = Allocation.objects.filter(patient__in=self.patients).count()
        not_randomized = risers - Allocation.objects.filter(patient_id__in=first_rising).count()
        triggers = Counter(
            Step2Trigger.objects.filter(patient__in=self.patients).values_list("status", flat=True)
        )
        self.figure("rising", risers)
        self.figure("randomized", allocated)
        self.figure("median_time_to_rising_months", None if median is None else round(median, 2))
        self.add(
            "ESR1 ctDNA and Step 2",
            [
                Row("Rising bESR1mut", _pct(risers, n), *_published("rising")),
                Row(
                    "Median time from inclusion to rising",
                    ("none" if median is None else f"{median:.1f} months")
                    + (
                        f" (IQR {statistics.quantiles(months, n=4)[0]:.1f}-"
                        f"{statistics.quantiles(months, n=4)[2]:.1f})"
                        if len(months) >= 2
                        else ""
                    ),
                    *_published("time_to_rising"),
                ),
                Row("Randomized", _pct(allocated, n), *_published("randomized")),
                Row(
                    "Rising but not randomized",
                    _pct(not_randomized, risers),
                    *_published("not_randomized"),
                ),
                Row(
                    "Step 2 triggers by outcome",
                    ", ".join(f"{k} {v}" for k, v in sorted(triggers.items())) or "none",
                ),
            ],
        )

    def pfs_section(self) -> None:
        statistician = self.result.world.staffing.statistician
        observations = pfs_from_randomization(user=statistician, protocol_code="PADA1")
        arms = Counter(o.arm for o in observations)
        self.figure("arm_a", arms["A"])
        self.figure("arm_b", arms["B"])
        rows = [
            Row("Randomized to Arm B / Arm A", f"{arms['B']} / {arms['A']}", "88 / 84", "[C:S2]")
        ]
        if not observations:
            self.add("PFS from randomization (PADA-1 co-primary)", rows)
            return
        records = [
            SurvivalRecord(days_to_months(o.time_days), o.event, o.arm, o.stratum)
            for o in observations
        ]
        longest = max(r.time_months for r in records)
        comparison = compare_arms(
            records,
            reference="A",
            experimental="B",
            at_risk_times=regular_times(max(longest, 1.0), 3.0),
            stratified=True,
        )
        curves = {curve.group: curve for curve in comparison.curves}
        for arm, key in (("B", "pfs_b"), ("A", "pfs_a")):
            curve = curves[arm]
            median = curve.median
            self.figure(f"median_pfs_{arm.lower()}_months", median.months)
            rows.append(
                Row(
                    f"Median PFS, Arm {arm} ({curve.events} events / {curve.n})",
                    _median(median),
                    *_published(key),
                )
            )
        hr = comparison.hazard_ratio
        self.figure("hazard_ratio", None if hr.hazard_ratio is None else round(hr.hazard_ratio, 3))
        hr_text = (
            f"{hr.hazard_ratio:.2f} (95 % CI {hr.ci_lower:.2f}-{hr.ci_upper:.2f}), "
            f"{hr.strata} strata, {hr.events} events"
            if hr.hazard_ratio is not None
            else f"{hr.status}: {hr.reason}"
        )
        rows.append(
            Row("Stratified hazard ratio B vs A (Cox)", hr_text, *_published("hazard_ratio"))
        )
        p = comparison.logrank.p_value
        rows.append(
            Row(
                "Stratified log-rank p",
                "n/a" if p is None else f"{p:.4f}",
                "0.0040 (stratified, two-sided)",
                "[C:S3]",
            )
        )
        rows.append(self._latent_pfs_row())
        crossed = Crossover.objects.filter(patient__in=self.patients).count()
        progressed_a = sum(1 for o in observations if o.arm == "A" and o.event)
        rows.append(Row("Arm A progressions crossed over (Step 3)", f"{crossed} of {progressed_a}"))
        self.add("PFS from randomization (PADA-1 co-primary)", rows)

    def _latent_pfs_row(self) -> Row:
        """The PFS times the cohort plan drew for the patients who were randomized, before any
        detection: how far this seed's sample sits from the scenario's medians, apart from
        what the product measured (a small sample of a heavy-tailed Weibull varies a lot)."""
        drawn: dict[str, list[float]] = {"A": [], "B": []}
        for run in self.result.runs:
            if run.arm in drawn:
                drawn[run.arm].append(days_to_months(run.plan.pfs_days[run.arm]))
        scenario = self.result.config.scenario
        medians = " / ".join(
            f"{statistics.median(drawn[arm]):.1f}" if drawn[arm] else "n/a" for arm in ("A", "B")
        )
        self.figure(
            "latent_pfs_medians_months",
            {arm: statistics.median(v) if v else None for arm, v in drawn.items()},
        )
        return Row(
            "Latent PFS drawn for the randomized, median A / B (before detection)",
            f"{medians} months (scenario: {scenario.pfs_latent_median_a_months:.1f} / "
            f"{scenario.pfs_latent_median_b_months:.1f})",
            "",
            "[K] the cohort plan's draw (monitoring/simulation/cohort.py)",
        )

    def safety_section(self) -> None:
        worst = dict(
            BloodCount.objects.filter(
                patient__in=self.patients, line__step="step1", anc_grade__isnull=False
            )
            .values("patient_id")
            .annotate(worst=Max("anc_grade"))
            .values_list("patient_id", "worst")
        )
        rates = haem_toxicity_rates(
            [HaemToxicityRecord(int(grade)) for grade in worst.values()], min_grade=3
        )
        overall = rates.overall
        self.figure("neutropenia_grade3", overall.successes)
        grade4 = sum(1 for grade in worst.values() if grade >= 4)
        signed = DoseDecision.objects.filter(
            line__patient__in=self.patients, status=DecisionStatus.CONFIRMED
        )
        reduced = (
            signed.filter(confirmed_dose_mg__lt=F("current_dose_mg"))
            .values("line__patient_id")
            .distinct()
            .count()
        )
        self.figure("dose_reduced", reduced)
        self.add(
            "Safety on Step 1 (palbociclib + AI)",
            [
                Row(
                    "Grade >= 3 neutropenia (worst ANC grade)",
                    _pct(overall.successes, overall.n) + f"; grade 4: {grade4}",
                    *_published("neutropenia"),
                ),
                Row("Dose decisions signed by investigators", str(signed.count())),
                Row(
                    "Patients with a palbociclib dose reduction",
                    _pct(reduced, overall.n),
                    *_published("dose_reduction"),
                ),
            ],
        )

    def operations_section(self) -> None:
        result = self.result
        items = Counter(
            ScheduleItem.objects.filter(patient__in=self.patients).values_list("status", flat=True)
        )
        events = dict(
            AuditEvent.objects.filter(
                patient__in=self.patients,
                action__in=["schedule_reminder_due", "schedule_reminder_overdue"],
            )
            .values("action")
            .annotate(n=Count("pk"))
            .values_list("action", "n")
        )
        samples = Sample.objects.filter(patient__in=self.patients).count()
        results = Counter(
            CtdnaResult.objects.filter(patient__in=self.patients).values_list("status", flat=True)
        )
        turnaround = list(
            Sample.objects.filter(
                patient__in=self.patients, turnaround_days__isnull=False
            ).values_list("turnaround_days", flat=True)
        )
        self.figure("samples", samples)
        self.add(
            "Operations",
            [
                Row(
                    "Schedule items done / missed / open",
                    f"{items[ItemStatus.DONE]} / {items[ItemStatus.MISSED]} / "
                    f"{items[ItemStatus.UPCOMING] + items[ItemStatus.DUE] + items[ItemStatus.OVERDUE]}",
                ),
                Row(
                    "Reminders due / overdue (daily job), e-mails sent",
                    f"{events.get('schedule_reminder_due', 0)} / "
                    f"{events.get('schedule_reminder_overdue', 0)}, "
                    f"{CountingEmailBackend.messages}",
                ),
                Row(
                    "ctDNA draws; results reported / failed",
                    f"{samples}; {results['reported']} / {results['failed']}",
                    "77 failures in 12,552 samples",
                    "[C:S7]",
                ),
                Row(
                    "Median turnaround, draw to result",
                    f"{statistics.median(turnaround):.0f} days" if turnaround else "n/a",
                    *_published("turnaround"),
                ),
                Row(
                    "API requests; token rotations",
                    f"{result.world.api_requests}; {result.world.token_rotations}",
                ),
                Row(
                    "Lab batches posted; outbox rows processed by the worker",
                    f"{result.counters.batches_posted}; {result.counters.outbox_processed}",
                ),
            ],
        )

    def timing_section(self) -> None:
        result = self.result
        meter = result.meter
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(result.phase_seconds.items()))
        days = (result.last_day - result.first_day).days + 1
        self.add(
            "Wall time",
            [
                Row("Total", f"{result.wall_seconds:.1f} s for {days} simulated days"),
                Row("By phase of the day", phases),
                Row("Database", f"{connection.vendor}, {meter.total_queries} queries"),
            ],
        )
        self.report.operations = meter.table()


def render(report: Report) -> str:
    lines = [f"# Simulated PADA-1 trial, seed {report.seed}", ""]
    for title, rows in report.sections:
        lines += [
            f"## {title}",
            "",
            "| figure | simulated | published | source |",
            "|---|---|---|---|",
        ]
        lines += [f"| {r.label} | {r.simulated} | {r.published} | {r.source} |" for r in rows]
        lines.append("")
    if report.operations:
        lines += [
            "## Where the time goes",
            "",
            "| operation | calls | queries per call | ms per call | total s |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {calls} | {queries:.1f} | {ms:.1f} | {seconds:.1f} |"
            for name, calls, queries, ms, seconds in report.operations
        ]
        lines.append("")
    lines.append(
        "Sources: DOMAIN.md section 1 ([C:S2] ASCO Post / Bidard et al., Lancet Oncol 2022; "
        "[C:S3] MDedge; [C:S7] Callens et al., Anal Chem 2022; [C:S11] SABCS 2021); "
        "[P2] PALOMA-2, Finn et al., N Engl J Med 2016;375:1925-36; [A] simulator assumption "
        "(monitoring/simulation/scenario.py)."
    )
    return "\n".join(lines) + "\n"


def build_report(result: SimulationResult) -> Report:
    builder = _Builder(result)
    for section in (
        builder.run_section,
        builder.screening_section,
        builder.esr1_section,
        builder.pfs_section,
        builder.safety_section,
        builder.operations_section,
        builder.timing_section,
    ):
        section()
    builder.report.markdown = render(builder.report)
    return builder.report
