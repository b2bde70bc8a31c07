"""Blood counts: units converted, CTCAE grades, and the palbociclib dose proposal.

Grading: ``trial.rules.ctcae`` with the protocol's CTCAE version (DOMAIN.md section 4, section 7
rules 12-15). Proposal: ``trial.rules.palbociclib`` (IBRANCE label Tables 1-2, DOMAIN.md
section 3, rules 6-9). A proposal that changes anything (withhold, reduce, discontinue) is
stored as a dose decision awaiting the investigator's signature; it supersedes any earlier
unsigned one of the line's blood counts (an adverse event's proposal stays).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from trial.exceptions import InvalidInput
from trial.models import (
    BloodCount,
    DecisionStatus,
    DoseDecision,
    Patient,
    TreatmentLine,
)
from trial.rules import ctcae
from trial.rules import palbociclib as palbo
from trial.rules.units import UnitError, convert
from trial.selectors import clinical_history  # noqa: F401  (registers the audit trail)
from trial.selectors.access import require_site_writer

from .audit import tracked_save
from .cycles import _dose_levels, dose_decision_propose, started_cycles
from .errors import DayOutsideCycle, LlnMissing, rule_input_error
from .lines import check_clinical_date, open_line, require_enrolled
from .schedule import (
    neutropenia_max_grade_c1_to_c6,
    schedule_item_mark_done_by_key,
    schedule_params,
    schedule_rebuild,
)

# Input quantity code -> (model field, CTCAE term, LabValue field of ctcae.BloodCount).
TERMS: dict[str, tuple[str, ctcae.CtcaeTerm, str]] = {
    "anc": ("anc_g_per_l", ctcae.CtcaeTerm.NEUTROPHIL_COUNT_DECREASED, "anc_g_per_l"),
    "wbc": ("wbc_g_per_l", ctcae.CtcaeTerm.WHITE_BLOOD_CELL_DECREASED, "wbc_g_per_l"),
    "platelets": (
        "platelets_g_per_l",
        ctcae.CtcaeTerm.PLATELET_COUNT_DECREASED,
        "platelets_g_per_l",
    ),
    "haemoglobin": ("haemoglobin_g_per_l", ctcae.CtcaeTerm.ANEMIA, "haemoglobin_g_per_l"),
    "lymphocytes": (
        "lymphocytes_g_per_l",
        ctcae.CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED,
        "lymphocytes_g_per_l",
    ),
}
_GRADE_FIELDS = {
    "anc": "anc_grade",
    "wbc": "wbc_grade",
    "platelets": "platelets_grade",
    "haemoglobin": "haemoglobin_grade",
    "lymphocytes": "lymphocytes_grade",
}
_STORE = Decimal("0.0001")


@dataclass(frozen=True)
class BloodCountResult:
    blood_count: BloodCount
    grades: ctcae.BloodCountGrades
    proposal: palbo.DoseDecision | None
    decision: DoseDecision | None


def _convert(code: str, entry: Any, field: str) -> Decimal:
    if not isinstance(entry, Mapping) or "value" not in entry or "unit" not in entry:
        raise InvalidInput(
            _("Give a value and its unit."), {"field": field}, code="validation_error"
        )
    try:
        return convert(code, entry["value"], str(entry["unit"]))
    except UnitError as exc:
        error = rule_input_error(exc)
        error.details["field"] = field
        raise error from exc


def _canonical(
    values: Mapping[str, Any], lln: Mapping[str, Any] | None, document: Mapping[str, Any]
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    unknown = sorted(set(values) - set(TERMS))
    if unknown or not values:
        raise InvalidInput(
            _("Give at least one of: %(terms)s.") % {"terms": ", ".join(TERMS)},
            {"unknown": unknown},
        )
    unknown = sorted(set(lln or {}) - set(TERMS))
    if unknown:
        raise InvalidInput(_("Unknown lower limit of normal."), {"unknown": unknown})
    measured = {code: _convert(code, entry, code) for code, entry in values.items()}
    defaults = document.get("lab_reference", {}).get("lln", {})
    limits = {}
    for code in measured:
        entry = (lln or {}).get(code) or defaults.get(code)
        if entry is None:
            raise LlnMissing(details={"field": code})
        limits[code] = _convert(code, entry, f"lln.{code}")
    return measured, limits


def _grade(
    measured: Mapping[str, Decimal], limits: Mapping[str, Decimal], version: str
) -> ctcae.BloodCountGrades:
    count = ctcae.BloodCount(
        **{
            TERMS[code][2]: ctcae.LabValue(value=value, lln=limits[code])
            for code, value in measured.items()
        }
    )
    try:
        return ctcae.grade_blood_count(count, version=version)
    except ctcae.CtcaeInputError as exc:
        raise rule_input_error(exc) from exc


def _locate(line: TreatmentLine, cycle_number: int, cycle_day: int, drawn_on: dt.date):
    """The started cycle the count belongs to (None for the D1 count before the next cycle
    starts). Raises DayOutsideCycle."""
    length = int(line.patient.protocol_version.document["cycle_length_days"])
    started = started_cycles(line)
    details = {"cycle": cycle_number, "day": cycle_day, "started_cycles": len(started)}
    if not 1 <= cycle_day <= length:
        raise DayOutsideCycle(details=details)
    if cycle_number == len(started) + 1 and cycle_day == 1:
        if started and drawn_on < started[-1].started_on:
            raise DayOutsideCycle(details=details)
        return None
    if not 1 <= cycle_number <= len(started):
        raise DayOutsideCycle(details=details)
    cycle = started[cycle_number - 1]
    following = started[cycle_number] if cycle_number < len(started) else None
    too_late = following is not None and drawn_on >= following.started_on
    window = schedule_params(line.patient.protocol_version.document).blood_count.window
    earliest = cycle.started_on + dt.timedelta(days=cycle_day - 1 - window.before_days)
    if too_late or drawn_on < earliest:
        raise DayOutsideCycle(details={**details, "drawn_on": str(drawn_on)})
    return cycle


def _propose(
    line: TreatmentLine,
    grades: ctcae.BloodCountGrades,
    *,
    cycle_number: int,
    cycle_day: int,
    temperature_c: Decimal | None,
    infection: bool,
    lymphopenia_clinical_event: bool,
) -> palbo.DoseDecision | None:
    if line.palbociclib_dose_mg == 0:  # palbociclib discontinued: nothing to decide
        return None
    earlier = BloodCount.objects.filter(line=line)
    repeat_d22 = (
        cycle_day == 22
        and cycle_number in (1, 2)
        and earlier.filter(cycle_number=cycle_number, cycle_day=15, worst_grade=3).exists()
    )
    previous_d1_grade3 = (
        cycle_day == 1
        and earlier.filter(cycle_number__lt=cycle_number, cycle_day=1, anc_grade=3).exists()
    )
    try:
        return palbo.propose_dose_decision(
            current_dose_mg=line.palbociclib_dose_mg,
            cycle_number=cycle_number,
            cycle_day=cycle_day,
            haem_grade=grades.worst_grade,
            haem_term=grades.worst_term,
            dose_levels_mg=_dose_levels(line),
            fever_c=temperature_c,
            infection=infection,
            lymphocyte_grade=grades.lymphocyte_grade or 0,
            lymphopenia_clinical_event=lymphopenia_clinical_event,
            repeat_cbc_d22_after_d15_grade3=repeat_d22,
            previous_day1_grade3_neutropenia=previous_d1_grade3,
        )
    except palbo.DoseRuleInputError as exc:
        raise rule_input_error(exc) from exc


def _store_decision(
    line: TreatmentLine, count: BloodCount, proposal: palbo.DoseDecision, by: Any
) -> DoseDecision:
    # Lock the unsigned proposals of blood counts: the newest one replaces them. An adverse
    # event's proposal stays: a count says nothing about that toxicity.
    for older in DoseDecision.objects.select_for_update().filter(
        line=line, status=DecisionStatus.PROPOSED, adverse_event=None
    ):
        older.status = DecisionStatus.SUPERSEDED
        tracked_save(
            older, by=by, reason=f"superseded by blood count {count.pk}", update_fields=["status"]
        )
    return dose_decision_propose(
        line=line,
        proposal=proposal,
        reason=proposal.reason,
        notice=_("A blood count of %(p)s proposes: %(reason)s. Please review and sign it."),
        by=by,
        blood_count=count,
    )


def blood_count_record(
    *,
    patient: Patient,
    by: Any,
    drawn_on: dt.date,
    cycle_number: int,
    cycle_day: int,
    values: Mapping[str, Any],
    today: dt.date,
    lln: Mapping[str, Any] | None = None,
    temperature_c: Any = None,
    infection: bool = False,
    lymphopenia_clinical_event: bool = False,
) -> BloodCountResult:
    """Record a blood count of the ongoing line and propose the palbociclib decision.

    ``values`` maps anc, wbc, platelets, haemoglobin, lymphocytes to ``{"value", "unit"}``;
    ``lln`` overrides the protocol's lower limits of normal the same way; ``temperature_c`` is
    the highest temperature (the label's fever rule: >= 38.5 C). ``cycle_number`` /
    ``cycle_day`` are the nominal visit (the D1 count of the next cycle may precede its start).
    Errors: day_outside_cycle, unknown_unit, implausible_value, invalid_number, lln_missing,
    date_in_future, date_before_enrolment, no_open_line, not_enrolled.
    """
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    check_clinical_date(patient, drawn_on, today=today, field="drawn_on")
    document = patient.protocol_version.document
    measured, limits = _canonical(values, lln, document)
    if temperature_c is not None:
        temperature_c = _convert(
            "temperature", {"value": temperature_c, "unit": "C"}, "temperature_c"
        )
    grades = _grade(measured, limits, document["trial"]["ctcae_version"])
    with transaction.atomic(durable=True):
        # Lock the line: the cycle a count belongs to and the decision chain are read together.
        line = open_line(patient, lock=True)
        cycle = _locate(line, cycle_number, cycle_day, drawn_on)
        proposal = _propose(
            line,
            grades,
            cycle_number=cycle_number,
            cycle_day=cycle_day,
            temperature_c=temperature_c,
            infection=infection,
            lymphopenia_clinical_event=lymphopenia_clinical_event,
        )
        count = _save_count(
            patient, line, cycle, grades, measured, limits, values,
            cycle_number=cycle_number, cycle_day=cycle_day, drawn_on=drawn_on,
            temperature_c=temperature_c, infection=infection,
            lymphopenia_clinical_event=lymphopenia_clinical_event, proposal=proposal, by=by,
        )  # fmt: skip
        decision = None
        if proposal is not None and proposal.action != palbo.DoseAction.CONTINUE:
            decision = _store_decision(line, count, proposal, by)
        _complete(line, count, by=by, today=today)
    return BloodCountResult(count, grades, proposal, decision)


def _save_count(
    patient, line, cycle, grades, measured, limits, values, *, proposal, by, **fields
) -> BloodCount:
    term_grades = {code: grades.grade_for(TERMS[code][1]) for code in measured}
    count = BloodCount(
        patient=patient,
        line=line,
        cycle=cycle,
        entered={
            code: {"value": str(values[code]["value"]), "unit": str(values[code]["unit"])}
            for code in measured
        },
        lln={code: str(limit) for code, limit in limits.items()},
        ctcae_version=grades.ctcae_version,
        grades={
            code: {"term": g.term, "grade": g.grade, "basis": g.basis}
            for code, g in term_grades.items()
            if g is not None
        },
        worst_grade=grades.worst_grade,
        worst_term=grades.worst_term or "",
        haem_max_grade=max((g.grade for g in term_grades.values() if g), default=0),
        proposed_action=proposal.action if proposal else "",
        proposed_reason=proposal.reason if proposal else _("palbociclib discontinued"),
        fever=bool(
            fields["temperature_c"] is not None
            and fields["temperature_c"] >= palbo.FEVER_THRESHOLD_C
        ),
        **fields,
    )
    for code, value in measured.items():
        setattr(count, TERMS[code][0], value.quantize(_STORE))
        setattr(count, _GRADE_FIELDS[code], term_grades[code].grade)  # type: ignore[union-attr]
    for name in ("entered",):
        setattr(
            count,
            name,
            {k: {"value": str(v["value"]), "unit": v["unit"]} for k, v in count.entered.items()},
        )
    tracked_save(count, by=by)
    return count


def _complete(line: TreatmentLine, count: BloodCount, *, by: Any, today: dt.date) -> None:
    """Mark the planned count done; recompute the calendar when cycles 1-6 decide the
    reduced CBC frequency."""
    ref = f"blood_count:{count.pk}"
    label = f"C{count.cycle_number}D{count.cycle_day}"
    schedule_item_mark_done_by_key(
        line=line, key=f"blood_count:{label}", on=count.drawn_on, ref=ref, by=by
    )
    if count.cycle is None and count.cycle_number == 1:
        schedule_item_mark_done_by_key(
            line=line, key="blood_count:baseline", on=count.drawn_on, ref=ref, by=by
        )
    params = schedule_params(line.patient.protocol_version.document)
    reduced = params.blood_count.reduced_frequency
    in_assessment = reduced is not None and count.cycle_number <= reduced.after_cycle
    if in_assessment and neutropenia_max_grade_c1_to_c6(line, params) is not None:
        schedule_rebuild(line=line, by=by, reason=f"blood count {label}", today=today)
