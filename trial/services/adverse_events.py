"""Adverse events, the serious adverse event (SAE) reporting clock and the palbociclib proposal.

A serious adverse event notifies the site's investigators and the sponsor's safety contact
(``settings.SPONSOR_SAFETY_EMAIL``) once the record commits, and starts a reporting clock of
``schedule.reminders.sae_reporting_hours`` hours (24 in both protocols); the admin shows the
SAE as overdue when it has not been reported in time.

Palbociclib proposal (IBRANCE label Table 3 and the ILD rule, ``trial.rules.palbociclib``;
DOMAIN.md section 3, section 7 rules 10-11): recording or regrading an ongoing adverse event of
the open line proposes a dose decision, like a blood count does, for

- a non-haematological term (``palbociclib.adverse_event_kind``) attributed to the study
  treatment (possible, probable or definite): grade 1-2 no change; grade 3-4 withhold until
  grade <= 1, then resume one level lower (125 -> 100 -> 75 -> discontinue). The label asks
  for a grade >= 3 "persisting despite optimal medical treatment" and allows grade <= 2 "if
  not a safety risk": both are the investigator's judgement, so the proposal takes the
  persisting case and the stricter resume grade, and the investigator's signature attests it;
- pneumonitis or ILD of grade >= 3, whatever the attribution: permanent discontinuation.

Haematological terms (neutropenia, anaemia, ...) propose nothing here: the blood count that
grades them already applies Table 2, and counting the event too would reduce twice. Grade 5
(death) proposes nothing. A proposal waits for the investigator's signature
(``cycles.dose_decision_confirm``), which opens the hold of the next cycle; the hold closes
once the event is resolved or regraded to the resume grade. An event has at most one pending
proposal: a regrade that proposes the same action keeps it, a different one supersedes it, and
a downgrade below grade 3 or a resolution withdraws it (superseded, with the reason). Once
one proposal of the event is signed, its later grade changes propose nothing more: the dose is
already reduced for that episode and the hold waits for its recovery.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trial.exceptions import InvalidInput, ReasonRequired
from trial.models import (
    AdverseEvent,
    Attribution,
    Cycle,
    CycleStatus,
    DecisionStatus,
    DoseDecision,
    Patient,
    Role,
    TreatmentLine,
)
from trial.rules import palbociclib as palbo
from trial.selectors import clinical_history  # noqa: F401  (registers the audit trail)
from trial.selectors.access import CORRECTION_ROLES, require_site_writer

from .audit import audit_event_record, tracked_save
from .cycles import _dose_levels, dose_decision_propose
from .errors import NotSerious, SaeAlreadyReported, rule_input_error
from .lines import check_clinical_date, require_enrolled
from .notifications import notify_after_commit, site_staff_emails

DEFAULT_SAE_REPORTING_HOURS = 24
# Attributions that make the event a toxicity of the study treatment (an adverse reaction).
TREATMENT_RELATED = frozenset({Attribution.POSSIBLE, Attribution.PROBABLE, Attribution.DEFINITE})


def sae_reporting_hours(patient: Patient) -> int:
    reminders = patient.protocol_version.document["schedule"].get("reminders", {})
    return int(reminders.get("sae_reporting_hours", DEFAULT_SAE_REPORTING_HOURS))


def adverse_event_record(
    *,
    patient: Patient,
    by: Any,
    term: str,
    grade: int,
    onset_on: dt.date,
    attribution: str,
    serious: bool,
    today: dt.date,
    resolved_on: dt.date | None = None,
    description: str = "",
) -> AdverseEvent:
    """Record an adverse event graded with the protocol's CTCAE version.

    An ongoing event of the open line may propose a palbociclib dose decision (module
    docstring). Errors: invalid_input (grade outside 1-5, unknown attribution, resolution
    before onset), date_in_future, date_before_enrolment, not_enrolled; not_found /
    role_not_allowed.
    """
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    _check_grade(grade)
    if attribution not in Attribution.values:
        raise InvalidInput(_("Unknown attribution."), {"attribution": attribution})
    check_clinical_date(patient, onset_on, today=today, field="onset_on")
    if resolved_on is not None:
        check_clinical_date(patient, resolved_on, today=today, field="resolved_on")
        if resolved_on < onset_on:
            raise InvalidInput(
                _("The resolution cannot precede the onset."),
                {"onset_on": str(onset_on), "resolved_on": str(resolved_on)},
                code="resolution_before_onset",
            )
    with transaction.atomic(durable=True):
        # Lock the open line: its dose and pending proposals are read with the event's proposal.
        open_lines = TreatmentLine.objects.select_for_update().filter(
            patient=patient, ended_on=None
        )
        event = AdverseEvent(
            patient=patient,
            line=open_lines.first(),
            term=term.strip(),
            grade=grade,
            ctcae_version=patient.protocol_version.document["trial"]["ctcae_version"],
            onset_on=onset_on,
            resolved_on=resolved_on,
            attribution=attribution,
            serious=serious,
            description=description.strip(),
        )
        if serious:
            now = timezone.now()
            event.sae_clock_started_at = now
            event.sae_report_due_at = now + dt.timedelta(hours=sae_reporting_hours(patient))
        tracked_save(event, by=by)
        if serious:
            _notify_sae(event)
        _review_dose(event, on=onset_on, by=by, why=f"adverse event {event.pk} recorded")
    return event


def _check_grade(grade: Any) -> None:
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 5:
        raise InvalidInput(_("The CTCAE grade is 1 to 5."), {"grade": grade})


# --- palbociclib proposal ---------------------------------------------------------------------


def _cycle_position(line: TreatmentLine, on: dt.date) -> tuple[int, int]:
    """The started cycle and its day on ``on`` (C1D1 before the line starts)."""
    cycle = (
        Cycle.objects.filter(line=line, status=CycleStatus.STARTED, started_on__lte=on)
        .order_by("-number")
        .first()
    )
    if cycle is None:
        return 1, 1
    return cycle.number, (on - cycle.started_on).days + 1  # type: ignore[operator]


def _propose(event: AdverseEvent, line: TreatmentLine, on: dt.date) -> palbo.DoseDecision | None:
    """The label's proposal for the event as it stands, or None when no rule applies."""
    kind = palbo.adverse_event_kind(event.term)
    levels = _dose_levels(line)
    if (
        kind == palbo.AdverseEventKind.HAEMATOLOGICAL  # Table 2 applies from the blood count
        or event.resolved_on is not None
        or event.grade > palbo.MAX_GRADE  # grade 5: death
        or line.palbociclib_dose_mg == 0  # palbociclib discontinued
        or not levels  # no palbociclib in the regimen
    ):
        return None
    severe_ild = (
        kind == palbo.AdverseEventKind.ILD_PNEUMONITIS and event.grade >= palbo.SEVERE_ILD_MIN_GRADE
    )
    related = event.attribution in TREATMENT_RELATED
    if not (severe_ild or related):
        return None
    cycle_number, cycle_day = _cycle_position(line, on)
    try:
        return palbo.propose_dose_decision(
            current_dose_mg=line.palbociclib_dose_mg,
            cycle_number=cycle_number,
            cycle_day=cycle_day,
            dose_levels_mg=levels,
            non_haem_grade=event.grade if related else 0,
            non_haem_persisting_despite_treatment=True,
            severe_ild_pneumonitis=severe_ild,
        )
    except palbo.DoseRuleInputError as exc:
        raise rule_input_error(exc) from exc


def _same(decision: DoseDecision, proposal: palbo.DoseDecision) -> bool:
    return (
        decision.action,
        decision.current_dose_mg,
        decision.proposed_next_dose_mg,
        decision.resume_max_grade,
    ) == (
        proposal.action,
        proposal.current_dose_mg,
        proposal.next_dose_mg,
        proposal.resume_max_grade,
    )


def _review_dose(event: AdverseEvent, *, on: dt.date, by: Any, why: str) -> DoseDecision | None:
    """Bring the event's pending proposal in line with the event as it now stands.

    Precondition: the caller holds the lock of the event's line (when it is open). Returns the
    pending proposal of the event, or None.
    """
    line = event.line
    if line is None or line.ended_on is not None:
        return None
    # Lock the event's unsigned proposals: the newest assessment of the event replaces them.
    pending = list(
        DoseDecision.objects.select_for_update().filter(
            adverse_event=event, status=DecisionStatus.PROPOSED
        )
    )
    signed = DoseDecision.objects.filter(adverse_event=event, status=DecisionStatus.CONFIRMED)
    proposal = None if signed.exists() else _propose(event, line, on)
    if proposal is not None and proposal.action == palbo.DoseAction.CONTINUE:
        proposal = None
    kept = next((d for d in pending if proposal is not None and _same(d, proposal)), None)
    for older in pending:
        if older is not kept:
            older.status = DecisionStatus.SUPERSEDED
            tracked_save(older, by=by, reason=f"withdrawn: {why}", update_fields=["status"])
    if proposal is None or kept is not None:
        return kept
    return _store_decision(event, line, proposal, by=by)


def _store_decision(
    event: AdverseEvent, line: TreatmentLine, proposal: palbo.DoseDecision, *, by: Any
) -> DoseDecision:
    return dose_decision_propose(
        line=line,
        proposal=proposal,
        reason=f"{event.term} grade {event.grade}: {proposal.reason}",
        notice=_("An adverse event of %(p)s proposes: %(reason)s. Please review and sign it."),
        by=by,
        adverse_event=event,
    )


def _notify_sae(event: AdverseEvent) -> None:
    patient = event.patient
    audit_event_record(
        action="sae_notified",
        patient=patient,
        obj=event,
        details={"due_at": event.sae_report_due_at.isoformat()},  # type: ignore[union-attr]
    )
    notify_after_commit(
        recipients=[
            *site_staff_emails(patient.site, roles=[Role.INVESTIGATOR]),
            settings.SPONSOR_SAFETY_EMAIL,
        ],
        subject=_("Serious adverse event: %(p)s, %(term)s grade %(g)s")
        % {"p": patient, "term": event.term, "g": event.grade},
        body=_(
            "A serious adverse event was recorded for %(p)s: %(term)s, CTCAE grade %(g)s "
            "(v%(v)s), onset %(onset)s, attribution %(attr)s. It must be reported to the "
            "sponsor by %(due)s."
        )
        % {
            "p": patient,
            "term": event.term,
            "g": event.grade,
            "v": event.ctcae_version,
            "onset": event.onset_on,
            "attr": event.get_attribution_display(),
            "due": timezone.localtime(event.sae_report_due_at),
        },
    )


def _locked(event: AdverseEvent) -> AdverseEvent:
    # Lock the event: concurrent edits of one event apply one after the other. Only the event:
    # the joined patient row is read, not written, and locking it would stall its other writers.
    return (
        AdverseEvent.objects.select_for_update(of=("self",))
        .select_related("patient")
        .get(pk=event.pk)
    )


def adverse_event_sae_report(*, event: AdverseEvent, by: Any) -> AdverseEvent:
    """Record that the SAE was reported to the sponsor now: stops its clock.
    Errors: not_serious, sae_already_reported; not_found / role_not_allowed."""
    require_site_writer(by, event.patient.site, CORRECTION_ROLES)
    with transaction.atomic(durable=True):
        locked = _locked(event)
        if not locked.serious:
            raise NotSerious()
        if locked.sae_reported_at is not None:
            raise SaeAlreadyReported(details={"reported_at": locked.sae_reported_at.isoformat()})
        locked.sae_reported_at = timezone.now()
        tracked_save(
            locked, by=by, reason="reported to the sponsor", update_fields=["sae_reported_at"]
        )
    return locked


def adverse_event_resolve(
    *, event: AdverseEvent, by: Any, resolved_on: dt.date, reason: str, today: dt.date
) -> AdverseEvent:
    """Record the resolution date. Errors: resolution_before_onset, date_in_future,
    reason_required."""
    require_site_writer(by, event.patient.site, CORRECTION_ROLES)
    check_clinical_date(event.patient, resolved_on, today=today, field="resolved_on")
    with transaction.atomic(durable=True):
        locked = _locked(event)
        if resolved_on < locked.onset_on:
            raise InvalidInput(
                _("The resolution cannot precede the onset."),
                {"onset_on": str(locked.onset_on), "resolved_on": str(resolved_on)},
                code="resolution_before_onset",
            )
        _lock_line(locked)
        locked.resolved_on = resolved_on
        tracked_save(locked, by=by, reason=reason, update_fields=["resolved_on"])
        _review_dose(locked, on=resolved_on, by=by, why=f"adverse event {locked.pk} resolved")
    return locked


def _lock_line(event: AdverseEvent) -> None:
    """Lock the event's line (taken after the event's lock, as everywhere here): its pending
    proposals and dose are read together with the event's proposal."""
    if event.line_id is not None:
        event.line = TreatmentLine.objects.select_for_update().get(pk=event.line_id)


def adverse_event_regrade(
    *, event: AdverseEvent, by: Any, grade: int, reason: str, today: dt.date
) -> AdverseEvent:
    """Change the CTCAE grade of a recorded event (it worsened, improved, or was mis-graded),
    with the reason, and bring its palbociclib proposal in line (module docstring): an upgrade
    to grade >= 3 proposes, a downgrade below 3 withdraws the pending proposal, and a regrade
    to the resume grade lets a hold opened by the signed proposal close.

    Errors: invalid_input (grade outside 1-5), reason_required, grade_unchanged; not_found /
    role_not_allowed.
    """
    require_site_writer(by, event.patient.site, CORRECTION_ROLES)
    _check_grade(grade)
    if not (reason and reason.strip()):
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        locked = _locked(event)
        if grade == locked.grade:
            raise InvalidInput(
                _("The event already has this grade."), {"grade": grade}, code="grade_unchanged"
            )
        _lock_line(locked)
        previous = locked.grade
        locked.grade = grade
        tracked_save(
            locked,
            by=by,
            reason=f"grade {previous} -> {grade}: {reason.strip()}",
            update_fields=["grade"],
        )
        _review_dose(locked, on=today, by=by, why=f"adverse event {locked.pk} regraded to {grade}")
    return locked
