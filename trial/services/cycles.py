"""Cycles and palbociclib doses: start, hold, release, delay; the investigator's dose decision.

DOMAIN.md 1.2 and section 7 rules 1-3: 28-day cycles; the planned CnD1 is the actual C(n-1)D1
plus the cycle length; a delayed or held cycle shifts every later cycle-anchored item (each
shift saved with its reason in the schedule history); a cycle never starts while a hold is
open; a confirmed dose applies from the next cycle and is never re-escalated automatically.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trial.exceptions import InvalidInput, ReasonRequired
from trial.models import (
    BloodCount,
    Cycle,
    CycleStatus,
    DecisionStatus,
    DoseDecision,
    ItemKind,
    Patient,
    Role,
    ScheduleItem,
    SignatureMeaning,
    TreatmentLine,
)
from trial.rules import palbociclib as palbo
from trial.rules.palbociclib import (
    DoseAction,
    DoseChangeKind,
    DoseRuleInputError,
    check_dose_change,
)
from trial.selectors import clinical_history  # noqa: F401  (registers the audit trail)
from trial.selectors.access import INVESTIGATOR_ONLY, require_site_writer

from .audit import audit_event_record, tracked_save
from .errors import (
    CycleStartTooEarly,
    DecisionNotPending,
    DecisionStale,
    DelayNotLater,
    DoseNotAllowed,
    HoldOpen,
    NoHoldOpen,
    NotInProtocol,
    NotRecovered,
    rule_input_error,
)
from .lines import check_clinical_date, open_line, require_enrolled
from .notifications import notify_after_commit, site_staff_emails
from .schedule import (
    schedule_item_mark_done,
    schedule_item_mark_done_by_key,
    schedule_params,
    schedule_rebuild,
)
from .signatures import signature_verify

WITHHOLD_ACTIONS = frozenset(
    {
        DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS,
        DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE,
        DoseAction.WITHHOLD_UNTIL_RECOVERY_SAME_DOSE,
        DoseAction.CONSIDER_REDUCTION,
    }
)


def _reason(reason: str) -> str:
    if not (reason and reason.strip()):
        raise ReasonRequired()
    return reason.strip()


def _cycle_length(line: TreatmentLine) -> int:
    return int(line.patient.protocol_version.document["cycle_length_days"])


def started_cycles(line: TreatmentLine) -> list[Cycle]:
    return list(Cycle.objects.filter(line=line, status=CycleStatus.STARTED).order_by("number"))


def pending_cycle(line: TreatmentLine) -> Cycle | None:
    return Cycle.objects.filter(line=line).exclude(status=CycleStatus.STARTED).first()


def default_d1(line: TreatmentLine, started: list[Cycle]) -> dt.date:
    """Planned D1 of the next cycle: the last actual D1 plus the cycle length (C1: planned)."""
    if not started:
        return line.planned_c1d1
    return started[-1].started_on + dt.timedelta(days=_cycle_length(line))  # type: ignore[operator]


def _next_cycle(line: TreatmentLine, started: list[Cycle]) -> Cycle:
    """The pending row of the next cycle, or a new unsaved one."""
    pending = pending_cycle(line)
    if pending is not None:
        return pending
    return Cycle(
        line=line,
        number=len(started) + 1,
        planned_d1=default_d1(line, started),
        status=CycleStatus.PLANNED,
    )


def cycle_start(*, patient: Patient, on: dt.date, by: Any, today: dt.date) -> Cycle:
    """Record the actual D1 of the next cycle of the patient's ongoing line.

    C1D1 sets the line's start. The cycle takes the line's current palbociclib dose (the last
    confirmed decision). Errors: hold_open (the cycle is on hold), cycle_start_too_early
    (before the previous start, or before the planned D1's visit window), date_in_future,
    date_before_enrolment, no_open_line, not_enrolled; not_found / role_not_allowed.
    """
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    check_clinical_date(patient, on, today=today, field="started_on")
    with transaction.atomic(durable=True):
        # Lock the line: cycle numbers and the dose in force are read and written together.
        line = open_line(patient, lock=True)
        started = started_cycles(line)
        cycle = _next_cycle(line, started)
        if cycle.status == CycleStatus.ON_HOLD:
            raise HoldOpen(details={"cycle": cycle.number, "since": str(cycle.hold_opened_on)})
        window = schedule_params(patient.protocol_version.document).cycle_visit.window
        earliest = cycle.planned_d1 - dt.timedelta(days=window.before_days)
        if on < earliest or (started and on <= started[-1].started_on):
            raise CycleStartTooEarly(
                details={"cycle": cycle.number, "planned_d1": str(cycle.planned_d1)}
            )
        _start(cycle, line, started, on=on, by=by)
        label = f"C{cycle.number}"
        schedule_rebuild(line=line, by=by, reason=f"{label} started on {on}", today=today)
        visit_day = schedule_params(patient.protocol_version.document).cycle_visit.cycle_day
        schedule_item_mark_done_by_key(
            line=line, key=f"cycle_visit:{label}D{visit_day}", on=on, ref=f"cycle:{cycle.pk}", by=by
        )
    return cycle


def _start(cycle: Cycle, line: TreatmentLine, started: list[Cycle], *, on: dt.date, by: Any):
    decision = (
        DoseDecision.objects.filter(
            line=line, status=DecisionStatus.CONFIRMED, applies_to_cycle=cycle.number
        )
        .order_by("-signed_at")
        .first()
    )
    previous_dose = started[-1].palbociclib_dose_mg if started else None
    cycle.status = CycleStatus.STARTED
    cycle.started_on = on
    cycle.palbociclib_dose_mg = line.palbociclib_dose_mg
    cycle.dose_decision = decision
    if previous_dose is not None and previous_dose != line.palbociclib_dose_mg:
        cycle.dose_change_reason = decision.reason if decision else _("dose changed")
    tracked_save(cycle, by=by, reason=f"C{cycle.number} started on {on}")
    if cycle.number == 1:
        line.started_on = on
        tracked_save(line, by=by, reason="C1D1", update_fields=["started_on"])


def _hold_open(
    line: TreatmentLine,
    *,
    on: dt.date,
    reason: str,
    by: Any,
    today: dt.date,
    decision: DoseDecision | None = None,
) -> Cycle:
    started = started_cycles(line)
    if started and on < started[-1].started_on:  # type: ignore[operator]
        raise InvalidInput(
            _("A hold cannot open before the current cycle started."),
            {"hold_opened_on": str(on), "cycle_started_on": str(started[-1].started_on)},
        )
    cycle = _next_cycle(line, started)
    if cycle.status == CycleStatus.ON_HOLD:
        if decision is None:
            raise HoldOpen(details={"cycle": cycle.number, "since": str(cycle.hold_opened_on)})
        cycle.hold_decision = decision
        tracked_save(cycle, by=by, reason=reason, update_fields=["hold_decision"])
        return cycle
    cycle.status = CycleStatus.ON_HOLD
    cycle.hold_opened_on = on
    cycle.hold_reason = reason
    cycle.hold_decision = decision
    cycle.hold_closed_on = None
    cycle.hold_close_reason = ""
    tracked_save(cycle, by=by, reason=f"hold: {reason}")
    schedule_rebuild(line=line, by=by, reason=f"C{cycle.number} on hold: {reason}", today=today)
    return cycle


def cycle_hold(*, patient: Patient, on: dt.date, reason: str, by: Any, today: dt.date) -> Cycle:
    """Put the next cycle of the ongoing line on hold from ``on`` (its items are not recorded
    as missed while the hold is open). Errors: hold_open (already on hold), reason_required,
    date_in_future, date_before_enrolment, no_open_line, not_enrolled."""
    reason = _reason(reason)
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    check_clinical_date(patient, on, today=today, field="on")
    with transaction.atomic(durable=True):
        # Lock the line: one pending cycle per line, updated by one writer at a time.
        line = open_line(patient, lock=True)
        return _hold_open(line, on=on, reason=reason, by=by, today=today)


def _check_recovery(cycle: Cycle) -> None:
    decision = cycle.hold_decision
    if decision is None or decision.resume_max_grade is None:
        return
    event = decision.adverse_event
    if event is not None:  # Table 3: the event resolved or down to the resume grade
        if event.resolved_on is None and event.grade > decision.resume_max_grade:
            raise NotRecovered(
                details={"resume_max_grade": decision.resume_max_grade, "grade": event.grade}
            )
        return
    if decision.blood_count is None:
        return
    recovered = (
        BloodCount.objects.filter(
            line=cycle.line,
            drawn_on__gte=decision.blood_count.drawn_on,
            worst_grade__lte=decision.resume_max_grade,
        )
        .exclude(pk=decision.blood_count_id)
        .exists()
    )
    if not recovered:
        raise NotRecovered(details={"resume_max_grade": decision.resume_max_grade})


def cycle_hold_release(
    *, patient: Patient, on: dt.date, reason: str, by: Any, today: dt.date
) -> Cycle:
    """Close the open hold on ``on``; the cycle may then start (its planned D1 moves to ``on``
    if it had passed). A hold opened by a dose decision closes only once a later blood count
    shows the grade the label requires (IBRANCE Table 2: grade <= 2), or, for an adverse
    event's decision, once the event is resolved or regraded to it (Table 3: grade <= 1).
    Errors: no_hold_open, not_recovered, reason_required, invalid_input (before the hold)."""
    reason = _reason(reason)
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    check_clinical_date(patient, on, today=today, field="on")
    with transaction.atomic(durable=True):
        # Lock the line: the hold and the cycle start must not race.
        line = open_line(patient, lock=True)
        cycle = pending_cycle(line)
        if cycle is None or cycle.status != CycleStatus.ON_HOLD:
            raise NoHoldOpen()
        if on < cycle.hold_opened_on:  # type: ignore[operator]
            raise InvalidInput(
                _("A hold cannot close before it opened."),
                {"hold_opened_on": str(cycle.hold_opened_on)},
            )
        _check_recovery(cycle)
        cycle.status = CycleStatus.PLANNED
        cycle.hold_closed_on = on
        cycle.hold_close_reason = reason
        if cycle.planned_d1 < on:
            cycle.planned_d1 = on
            cycle.delay_reason = cycle.hold_reason
        tracked_save(cycle, by=by, reason=f"hold closed: {reason}")
        schedule_rebuild(
            line=line, by=by, reason=f"C{cycle.number} hold closed: {reason}", today=today
        )
    return cycle


def cycle_delay(
    *, patient: Patient, planned_d1: dt.date, reason: str, by: Any, today: dt.date
) -> Cycle:
    """Delay the next cycle's planned D1 to ``planned_d1``; every later cycle-anchored item
    moves with it. Errors: delay_not_later, reason_required, no_open_line, not_enrolled."""
    reason = _reason(reason)
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    with transaction.atomic(durable=True):
        # Lock the line: one pending cycle per line, updated by one writer at a time.
        line = open_line(patient, lock=True)
        cycle = _next_cycle(line, started_cycles(line))
        if planned_d1 <= cycle.planned_d1:
            raise DelayNotLater(
                details={"planned_d1": str(cycle.planned_d1), "requested": str(planned_d1)}
            )
        previous = cycle.planned_d1
        cycle.planned_d1 = planned_d1
        cycle.delay_reason = reason
        tracked_save(cycle, by=by, reason=f"delayed from {previous}: {reason}")
        schedule_rebuild(
            line=line,
            by=by,
            reason=f"C{cycle.number} delayed from {previous} to {planned_d1}: {reason}",
            today=today,
        )
    return cycle


def fulvestrant_injection_record(
    *, patient: Patient, on: dt.date, by: Any, today: dt.date
) -> ScheduleItem | None:
    """Record a fulvestrant injection (palbo_fulv lines): marks the planned injection done.
    Returns None for an unscheduled injection. Errors: not_in_protocol (no fulvestrant in the
    line's regimen), no_open_line, date_in_future, date_before_enrolment."""
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    check_clinical_date(patient, on, today=today, field="given_on")
    with transaction.atomic(durable=True):
        line = open_line(patient)
        regimen = patient.protocol_version.document["regimens"][line.regimen]
        if not any(c.get("drug") == "fulvestrant" for c in regimen["components"]):
            raise NotInProtocol(details={"regimen": line.regimen})
        return schedule_item_mark_done(
            patient=patient,
            kind=ItemKind.FULVESTRANT_INJECTION,
            on=on,
            ref=f"fulvestrant:{on}",
            by=by,
        )


# --- dose decisions ---------------------------------------------------------------------------


def dose_decision_propose(
    *,
    line: TreatmentLine,
    proposal: palbo.DoseDecision,
    reason: str,
    notice: str,
    by: Any,
    **source: Any,
) -> DoseDecision:
    """Store a rule's proposal for an investigator to sign and tell the site's investigators.

    ``source`` names what proposed it (``blood_count=`` or ``adverse_event=``); ``notice`` is
    the e-mail body, translated, with ``%(p)s`` (the patient) and ``%(reason)s``."""
    decision = DoseDecision(
        line=line,
        action=proposal.action,
        reason_code=proposal.reason_code,
        reason=reason,
        source=proposal.source,
        current_dose_mg=proposal.current_dose_mg,
        proposed_next_dose_mg=proposal.next_dose_mg,
        resume_max_grade=proposal.resume_max_grade,
        other_decisions=[
            {"action": d.action, "reason_code": d.reason_code, "reason": d.reason}
            for d in proposal.other_decisions
        ],
        **source,
    )
    tracked_save(decision, by=by)
    patient = line.patient
    notify_after_commit(
        recipients=site_staff_emails(patient.site, roles=[Role.INVESTIGATOR]),
        subject=_("Palbociclib dose decision to sign for %(p)s") % {"p": patient},
        body=notice % {"p": patient, "reason": reason},
    )
    return decision


def _dose_levels(line: TreatmentLine) -> list[int]:
    regimen = line.patient.protocol_version.document["regimens"][line.regimen]
    for component in regimen["components"]:
        if component.get("drug") == "palbociclib":
            return [int(level) for level in component["dose_levels_mg"]]
    return []


def _allowed_doses(decision: DoseDecision) -> list[int]:
    proposed = decision.proposed_next_dose_mg
    allowed = [0 if proposed is None else proposed]
    if decision.action == DoseAction.CONSIDER_REDUCTION:
        allowed.append(decision.current_dose_mg)
    return allowed


def _check_dose(decision: DoseDecision, dose_mg: int, levels: list[int]) -> None:
    if dose_mg not in _allowed_doses(decision):
        raise DoseNotAllowed(details={"dose_mg": dose_mg, "allowed": _allowed_doses(decision)})
    if 0 < dose_mg < decision.current_dose_mg:
        try:
            check_dose_change(
                from_dose_mg=decision.current_dose_mg,
                to_dose_mg=dose_mg,
                kind=DoseChangeKind.REDUCTION,
                dose_levels_mg=levels,
            )
        except DoseRuleInputError as exc:
            raise rule_input_error(exc) from exc


def dose_decision_confirm(
    *,
    decision: DoseDecision,
    by: Any,
    password: str,
    today: dt.date,
    dose_mg: int | None = None,
    comment: str = "",
) -> DoseDecision:
    """Sign a proposed dose decision as the site investigator (password re-entered).

    The confirmed dose (the proposal's, or for "consider reduction" the current one) becomes
    the line's dose and applies from the next cycle; a withholding decision puts the next
    cycle on hold until a blood count shows recovery. Errors: role_not_allowed (not an
    investigator), not_found (another site), wrong_password, decision_not_pending,
    decision_stale (the dose changed since the proposal), dose_not_allowed, no_open_line.
    """
    site = decision.line.patient.site
    require_site_writer(by, site, roles=INVESTIGATOR_ONLY)
    signature_verify(user=by, password=password)
    with transaction.atomic(durable=True):
        # Lock the decision: it is signed once, whatever the concurrent requests.
        locked = DoseDecision.objects.select_for_update().get(pk=decision.pk)
        if locked.status != DecisionStatus.PROPOSED:
            raise DecisionNotPending(details={"status": locked.status})
        patient = locked.line.patient
        # Lock the line: its dose and pending cycle change with the signature.
        line = open_line(patient, lock=True)
        if line.pk != locked.line_id:
            raise DecisionNotPending(details={"status": "line_ended"})
        if line.palbociclib_dose_mg != locked.current_dose_mg:
            raise DecisionStale(
                details={"proposed_for": locked.current_dose_mg, "now": line.palbociclib_dose_mg}
            )
        chosen = dose_mg if dose_mg is not None else _allowed_doses(locked)[0]
        _check_dose(locked, chosen, _dose_levels(line))
        started = started_cycles(line)
        locked.status = DecisionStatus.CONFIRMED
        locked.confirmed_dose_mg = chosen
        locked.applies_to_cycle = len(started) + 1
        locked.signed_by = by
        locked.signed_at = timezone.now()
        locked.signature_meaning = SignatureMeaning.APPROVAL
        locked.signature_comment = comment.strip()
        tracked_save(
            locked,
            by=by,
            reason="signed by the investigator",
            update_fields=[
                "status",
                "confirmed_dose_mg",
                "applies_to_cycle",
                "signed_by",
                "signed_at",
                "signature_meaning",
                "signature_comment",
            ],
        )
        _apply_decision(locked, line, by=by, today=today)
        audit_event_record(
            action="dose_decision_signed",
            actor=by,
            patient=patient,
            obj=locked,
            details={
                "meaning": locked.signature_meaning,
                "dose_mg": chosen,
                "applies_to_cycle": locked.applies_to_cycle,
                "role": Role.INVESTIGATOR,
            },
        )
    return locked


def _apply_decision(decision: DoseDecision, line: TreatmentLine, *, by: Any, today: dt.date):
    if decision.confirmed_dose_mg != line.palbociclib_dose_mg:
        line.palbociclib_dose_mg = decision.confirmed_dose_mg  # type: ignore[assignment]
        tracked_save(
            line,
            by=by,
            reason=f"dose decision {decision.pk}: {decision.reason}",
            update_fields=["palbociclib_dose_mg"],
        )
    if decision.action in WITHHOLD_ACTIONS:
        _hold_open(
            line,
            on=decision.blood_count.drawn_on if decision.blood_count else today,
            reason=decision.reason,
            by=by,
            today=today,
            decision=decision,
        )
    elif decision.action == DoseAction.DISCONTINUE:
        audit_event_record(
            action="palbociclib_discontinued",
            actor=by,
            patient=line.patient,
            obj=decision,
            details={"reason_code": decision.reason_code},
        )
