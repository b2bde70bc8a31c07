"""The CSV export of each clinical domain: its rows, columns, order and masked columns.

Column names are a contract with the analysis programs (English snake_case, never
translated). A domain that joins a child (cycles of a line, variants of a result) has one row
per child, and one row for a parent without children (a left join).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from monitoring.models import CtdnaResult
from randomization.models import Allocation
from trial.models import (
    QLQ_C30_SCALE_FIELDS,
    AdverseEvent,
    BloodCount,
    EligibilityAssessment,
    Patient,
    QolQuestionnaire,
    TreatmentLine,
    TumourAssessment,
)
from trial.selectors.access import User, scope_by_site

from ..filters import DashboardFilters
from ..models import ExportKind
from .values import mask_end_reason, mask_step, masked_unless_step1, subject_key

CHUNK_SIZE = 2000

Masker = Callable[[Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Column:
    name: str
    path: str
    mask: Masker | None = None


def _step(value, row):  # noqa: ARG001
    return mask_step(value)


def _line_detail(value, row):
    return masked_unless_step1(value, row.get("line_step"))


def _end_reason(value, row):  # noqa: ARG001
    return mask_end_reason(value)


def _masked(value, row):  # noqa: ARG001
    return None if value is None else "masked"


@dataclass(frozen=True)
class Domain:
    kind: str
    model: type
    prefix: str  # path from the model to its patient ("" for Patient)
    columns: tuple[Column, ...]
    order_by: tuple[str, ...]
    condition: Q = Q()

    def queryset(self, user: User | None, filters: DashboardFilters) -> QuerySet:
        site = f"{self.prefix}site" if self.prefix else "site"
        qs = self.model.objects.filter(self.condition).filter(filters.patient_q(self.prefix))
        return scope_by_site(qs, user, site)

    @property
    def headers(self) -> list[str]:
        return ["subject_id", *(c.name for c in self.columns)]

    def count(self, user: User | None, filters: DashboardFilters) -> int:
        return self.queryset(user, filters).values_list(*self._paths()).count()

    def _paths(self) -> list[str]:
        return [f"{self.prefix}trial_number", f"{self.prefix}pk", *(c.path for c in self.columns)]

    def rows(
        self, user: User | None, filters: DashboardFilters, *, mask: bool
    ) -> Iterator[list[Any]]:
        """Rows of plain Python values, masked when ``mask``, streamed from the database."""
        names = [c.name for c in self.columns]
        values = self.queryset(user, filters).values_list(*self._paths()).order_by(*self.order_by)
        for trial_number, patient_id, *cells in values.iterator(chunk_size=CHUNK_SIZE):
            row = dict(zip(names, cells, strict=True))
            if mask:
                row = {
                    c.name: c.mask(row[c.name], row) if c.mask else row[c.name]
                    for c in self.columns
                }
            yield [subject_key(trial_number, patient_id), *(row[n] for n in names)]


def _cols(*specs: str | tuple[str, str] | Column) -> tuple[Column, ...]:
    columns = []
    for spec in specs:
        if isinstance(spec, Column):
            columns.append(spec)
        elif isinstance(spec, tuple):
            columns.append(Column(spec[0], spec[1]))
        else:
            columns.append(Column(spec, spec))
    return tuple(columns)


SITE = ("site", "patient__site__code")
LINE_STEP = Column("line_step", "line__step", _step)

DOMAINS: dict[str, Domain] = {
    ExportKind.PATIENTS: Domain(
        ExportKind.PATIENTS,
        Patient,
        "",
        _cols(
            ("site", "site__code"),
            ("protocol", "protocol__code"),
            ("protocol_version", "protocol_version__number"),
            "status",
            Column("step", "step", _step),
            "year_of_birth",
            "sex",
            "menopausal_status",
            "enrolled_on",
            "stratification",
        ),
        ("pk",),
    ),
    ExportKind.ELIGIBILITY: Domain(
        ExportKind.ELIGIBILITY,
        EligibilityAssessment,
        "patient__",
        _cols(
            SITE,
            ("protocol_version", "protocol_version__number"),
            "assessed_on",
            "eligible",
            ("failing_criteria", "failures"),
            ("values", "normalised"),
        ),
        ("patient_id", "created_at", "pk"),
    ),
    ExportKind.TREATMENT: Domain(
        ExportKind.TREATMENT,
        TreatmentLine,
        "patient__",
        _cols(
            SITE,
            ("line_id", "pk"),
            Column("line_step", "step", _step),
            Column("regimen", "regimen", _line_detail),
            Column("endocrine_drug", "endocrine_drug", _line_detail),
            ("line_palbociclib_dose_mg", "palbociclib_dose_mg"),
            "planned_c1d1",
            ("started_on", "started_on"),
            "ended_on",
            Column("end_reason", "end_reason", _end_reason),
            ("cycle_number", "cycles__number"),
            ("cycle_planned_d1", "cycles__planned_d1"),
            ("cycle_started_on", "cycles__started_on"),
            ("cycle_status", "cycles__status"),
            ("cycle_palbociclib_dose_mg", "cycles__palbociclib_dose_mg"),
            ("cycle_dose_change_reason", "cycles__dose_change_reason"),
            ("cycle_hold_opened_on", "cycles__hold_opened_on"),
            ("cycle_hold_closed_on", "cycles__hold_closed_on"),
        ),
        ("patient_id", "created_at", "pk", "cycles__number"),
    ),
    ExportKind.BLOOD_COUNTS: Domain(
        ExportKind.BLOOD_COUNTS,
        BloodCount,
        "patient__",
        _cols(
            SITE,
            LINE_STEP,
            "cycle_number",
            "cycle_day",
            "drawn_on",
            "anc_g_per_l",
            "wbc_g_per_l",
            "platelets_g_per_l",
            "haemoglobin_g_per_l",
            "lymphocytes_g_per_l",
            "anc_grade",
            "wbc_grade",
            "platelets_grade",
            "haemoglobin_grade",
            "lymphocytes_grade",
            "haem_max_grade",
            "ctcae_version",
            "temperature_c",
            "fever",
            "infection",
            "proposed_action",
        ),
        ("patient_id", "drawn_on", "pk"),
    ),
    ExportKind.ADVERSE_EVENTS: Domain(
        ExportKind.ADVERSE_EVENTS,
        AdverseEvent,
        "patient__",
        _cols(
            SITE,
            LINE_STEP,
            "term",
            "grade",
            "ctcae_version",
            "onset_on",
            "resolved_on",
            "attribution",
            "serious",
            "sae_clock_started_at",
            "sae_report_due_at",
            "sae_reported_at",
            "description",
        ),
        ("patient_id", "onset_on", "pk"),
    ),
    ExportKind.TUMOUR_ASSESSMENTS: Domain(
        ExportKind.TUMOUR_ASSESSMENTS,
        TumourAssessment,
        "patient__",
        _cols(
            SITE,
            LINE_STEP,
            "assessed_on",
            "modality",
            "is_baseline",
            "sum_mm",
            "baseline_sum_mm",
            "nadir_sum_mm",
            "change_from_baseline_pct",
            "change_from_nadir_pct",
            "new_lesions",
            "non_target",
            "target_response",
            "overall_response",
            "reason_code",
        ),
        ("patient_id", "assessed_on", "pk"),
    ),
    ExportKind.QOL: Domain(
        ExportKind.QOL,
        QolQuestionnaire,
        "patient__",
        _cols(SITE, LINE_STEP, "completed_on", "instrument", *QLQ_C30_SCALE_FIELDS),
        ("patient_id", "completed_on", "pk"),
    ),
    ExportKind.CTDNA: Domain(
        ExportKind.CTDNA,
        CtdnaResult,
        "patient__",
        _cols(
            SITE,
            ("lab", "lab__code"),
            ("sample_id", "sample__sample_id"),
            ("drawn_on", "sample__drawn_on"),
            "collected_on",
            "analysed_on",
            "turnaround_days",
            ("result_version", "version"),
            "assay",
            "status",
            "failure_reason",
            ("patient_ctdna_status", "patient_status"),
            "next_action",
            ("gene", "variants__gene"),
            ("protein_change", "variants__protein_change"),
            ("vaf", "variants__vaf"),
            ("copies_per_ml", "variants__copies_per_ml"),
            ("in_panel", "variants__in_panel"),
            ("variant_change", "variants__change"),
        ),
        ("patient_id", "collected_on", "pk", "variants__position"),
    ),
    ExportKind.RANDOMIZATION: Domain(
        ExportKind.RANDOMIZATION,
        Allocation,
        "patient__",
        _cols(
            SITE,
            ("design", "design__number"),
            ("method", "design__method"),
            "allocated_on",
            "stratum",
            Column("arm", "arm", _masked),
            Column("crossover_on", "crossovers__decided_on", _masked),
        ),
        ("patient_id", "pk"),
    ),
}


def domain(kind: str) -> Domain:
    return DOMAINS[kind]


CSV_KINDS: Sequence[str] = tuple(DOMAINS)
