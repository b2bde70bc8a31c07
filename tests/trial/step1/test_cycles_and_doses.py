"""Cycles, holds, delays and the signed palbociclib dose decision (services)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from trial.exceptions import DomainError
from trial.models import (
    Cycle,
    CycleStatus,
    DecisionStatus,
    DoseDecision,
    ItemStatus,
    ScheduleItem,
)
from trial.services import cycles

from .conftest import cbc, start

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def item(patient, key):
    return ScheduleItem.objects.get(patient=patient, key=key)


def code_of(call):
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def test_enrolment_builds_the_calendar(patient, today):
    c1d1 = today + 7 * DAY
    keys = set(ScheduleItem.objects.filter(patient=patient).values_list("key", flat=True))
    assert {"cycle_visit:C1D1", "blood_count:baseline", "ctdna:baseline", "qol:baseline"} <= keys
    assert {"blood_count:C1D15", "cycle_visit:C3D1", "imaging:W8"} <= keys
    visit = item(patient, "cycle_visit:C1D1")
    assert (visit.planned_on, visit.window_opens, visit.window_closes) == (
        c1d1,
        c1d1 - 3 * DAY,
        c1d1 + 3 * DAY,
    )
    assert item(patient, "blood_count:baseline").status == ItemStatus.DUE  # 14 days before
    assert visit.status == ItemStatus.UPCOMING


def test_c1_start_sets_the_line_start_and_anchors_the_calendar(patient, investigator_a, today):
    c1 = start(patient, investigator_a, today + 8 * DAY, today=today + 8 * DAY)
    assert (c1.number, c1.status, c1.palbociclib_dose_mg) == (1, CycleStatus.STARTED, 125)
    line = c1.line
    line.refresh_from_db()
    assert line.started_on == today + 8 * DAY
    visit = item(patient, "cycle_visit:C1D1")
    assert (visit.status, visit.done_on, visit.planned_on) == (
        ItemStatus.DONE,
        today + 8 * DAY,
        today + 8 * DAY,
    )
    # C2D1 = actual C1D1 + 28 days.
    assert item(patient, "cycle_visit:C2D1").planned_on == today + 36 * DAY


def test_start_too_early_and_in_the_future_are_refused(patient, investigator_a, today):
    too_early = today + 3 * DAY  # planned C1D1 - 4 days, outside the 3-day window
    assert code_of(lambda: start(patient, investigator_a, too_early, today=too_early)) == (
        "cycle_start_too_early"
    )
    assert code_of(lambda: start(patient, investigator_a, today + 7 * DAY, today=today)) == (
        "date_in_future"
    )
    assert not Cycle.objects.exists()


def test_grade_4_count_proposes_a_reduction_signed_by_the_investigator(
    patient, investigator_a, coordinator_a, password, today
):
    d1 = today + 7 * DAY
    start(patient, investigator_a, d1)
    result = cbc(patient, coordinator_a, cycle=1, day=15, on=d1 + 14 * DAY, anc=0.45)
    assert result.grades.worst_grade == 4
    decision = result.decision
    assert decision.action == "withhold_until_recovery_then_reduce"
    assert (decision.current_dose_mg, decision.proposed_next_dose_mg) == (125, 100)
    assert item(patient, "blood_count:C1D15").status == ItemStatus.DONE
    signing_day = d1 + 15 * DAY
    coordinator_tries = lambda: cycles.dose_decision_confirm(  # noqa: E731
        decision=decision, by=coordinator_a, password=password, today=signing_day
    )
    assert code_of(coordinator_tries) == "role_not_allowed"
    wrong = lambda: cycles.dose_decision_confirm(  # noqa: E731
        decision=decision, by=investigator_a, password="nope", today=signing_day
    )
    assert code_of(wrong) == "wrong_password"
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.PROPOSED and decision.signed_by is None
    signed = cycles.dose_decision_confirm(
        decision=decision, by=investigator_a, password=password, today=signing_day
    )
    assert signed.status == DecisionStatus.CONFIRMED
    assert (signed.signed_by, signed.confirmed_dose_mg, signed.applies_to_cycle) == (
        investigator_a,
        100,
        2,
    )
    assert signed.signature_meaning == "approval" and signed.signed_at is not None
    again = lambda: cycles.dose_decision_confirm(  # noqa: E731
        decision=decision, by=investigator_a, password=password, today=signing_day
    )
    assert code_of(again) == "decision_not_pending"
    # The current cycle keeps its dose; C2 is on hold until recovery, then starts at 100 mg.
    assert Cycle.objects.get(number=1).palbociclib_dose_mg == 125
    held = Cycle.objects.get(number=2)
    assert held.status == CycleStatus.ON_HOLD and held.hold_decision == signed
    assert code_of(lambda: start(patient, investigator_a, d1 + 28 * DAY)) == "hold_open"
    release = lambda on: cycles.cycle_hold_release(  # noqa: E731
        patient=patient, on=on, reason="recovered", by=investigator_a, today=on
    )
    assert code_of(lambda: release(d1 + 27 * DAY)) == "not_recovered"
    cbc(patient, coordinator_a, cycle=2, day=1, on=d1 + 28 * DAY, anc=1.2)
    release(d1 + 28 * DAY)
    c2 = start(patient, investigator_a, d1 + 29 * DAY)
    assert (c2.palbociclib_dose_mg, c2.dose_decision, c2.hold_closed_on) == (
        100,
        signed,
        d1 + 28 * DAY,
    )
    assert c2.dose_change_reason.startswith("grade 4")


def test_consider_reduction_lets_the_investigator_keep_the_dose(
    patient, investigator_a, password, today
):
    d1 = today + 7 * DAY
    start(patient, investigator_a, d1)
    start(patient, investigator_a, d1 + 28 * DAY)
    # Grade 3 on C2D1 after a grade 3 on C1... first a D1 grade 3 (C2 is already started: the
    # recurrent rule needs two D1 counts) -> record C3D1 grade 3 after C2D1 grade 3.
    first = cbc(patient, investigator_a, cycle=2, day=1, on=d1 + 28 * DAY, anc=0.8)
    assert first.decision.action == "withhold_repeat_cbc_7_days"
    second = cbc(patient, investigator_a, cycle=3, day=1, on=d1 + 56 * DAY, anc=0.7)
    assert second.decision.action == "consider_reduction"
    first.decision.refresh_from_db()
    assert first.decision.status == DecisionStatus.SUPERSEDED
    with pytest.raises(DomainError) as caught:
        cycles.dose_decision_confirm(
            decision=second.decision, by=investigator_a, password=password, dose_mg=75,
            today=d1 + 56 * DAY,
        )  # fmt: skip
    assert caught.value.code == "dose_not_allowed"
    kept = cycles.dose_decision_confirm(
        decision=second.decision, by=investigator_a, password=password, dose_mg=125,
        today=d1 + 56 * DAY,
    )  # fmt: skip
    assert kept.confirmed_dose_mg == 125
    assert DoseDecision.objects.filter(status=DecisionStatus.CONFIRMED).count() == 1


def test_delay_shifts_every_later_item_and_is_audited(patient, investigator_a, today):
    d1 = today + 7 * DAY
    start(patient, investigator_a, d1)
    before = {i.key: i.planned_on for i in ScheduleItem.objects.filter(patient=patient)}
    cycles.cycle_delay(
        patient=patient,
        planned_d1=d1 + 35 * DAY,
        reason="patient on holiday",
        by=investigator_a,
        today=d1,
    )
    after = {i.key: i.planned_on for i in ScheduleItem.objects.filter(patient=patient)}
    assert after["cycle_visit:C2D1"] == before["cycle_visit:C2D1"] + 7 * DAY
    assert after["blood_count:C2D15"] == before["blood_count:C2D15"] + 7 * DAY
    assert after["cycle_visit:C3D1"] == before["cycle_visit:C3D1"] + 7 * DAY
    assert after["imaging:W8"] == before["imaging:W8"]  # calendar-anchored
    assert after["blood_count:C1D15"] == before["blood_count:C1D15"]
    moved = item(patient, "cycle_visit:C2D1")
    assert "patient on holiday" in moved.history.first().history_change_reason
    with pytest.raises(DomainError) as caught:
        cycles.cycle_delay(
            patient=patient, planned_d1=d1 + 30 * DAY, reason="x", by=investigator_a, today=d1
        )
    assert caught.value.code == "delay_not_later"


def test_hold_marks_items_held_and_other_site_is_not_found(
    patient, investigator_a, investigator_b, today
):
    d1 = today + 7 * DAY
    start(patient, investigator_a, d1)
    with pytest.raises(DomainError) as caught:
        cycles.cycle_hold(patient=patient, on=d1, reason="x", by=investigator_b, today=d1)
    assert caught.value.code == "not_found"
    cycles.cycle_hold(
        patient=patient, on=d1 + DAY, reason="infection", by=investigator_a, today=d1 + DAY
    )
    assert item(patient, "cycle_visit:C2D1").held
    assert not item(patient, "blood_count:C1D15").held
    with pytest.raises(DomainError) as caught:
        cycles.cycle_hold(
            patient=patient, on=d1 + DAY, reason="x", by=investigator_a, today=d1 + DAY
        )
    assert caught.value.code == "hold_open"
    assert len(mail.outbox) == 0
