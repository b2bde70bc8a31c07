"""One PADA-1 patient through ten 28-day cycles, day by day under a controlled clock.

Every morning the daily schedule job runs (the Celery task body), then the site does what the
calendar asks. Scripted events: a grade 4 neutropenia on C2D15 (dose decision signed, C3 held
until recovery, then started 5 days late at 100 mg), a 7-day delay of C5, a QoL form never
filled in (missed), and RECIST progression at the week-40 imaging. Checked every day: each
item is reminded at most once per stage, never when done, always once its window has opened;
checked at each step: the items, their dates, holds, statuses and the e-mails.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.core import mail

from trial.models import (
    AuditEvent,
    Cycle,
    CycleStatus,
    DecisionStatus,
    ItemStatus,
    ScheduleItem,
)
from trial.services import cycles, qol, schedule, tumour
from trial.tasks import schedule_daily_task

from .conftest import PASSWORD, T0, cbc

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
SKIPPED_QOL = "qol:C5D1"
ANSWERS = {i: 2 for i in range(1, 29)} | {29: 5, 30: 5}


def item(patient, key) -> ScheduleItem:
    return ScheduleItem.objects.get(patient=patient, key=key)


def reminder_events(stage: str) -> Counter:
    return Counter(
        AuditEvent.objects.filter(action=f"schedule_reminder_{stage}").values_list(
            "object_id", flat=True
        )
    )


def new_mail(seen: int) -> list:
    return mail.outbox[seen:]


class Site:
    """What the site does each day, after the morning job."""

    def __init__(self, patient, investigator, coordinator):
        self.patient = patient
        self.inv = investigator
        self.coord = coordinator
        self.assessments = 0

    def planned_today(self, today):
        return list(
            ScheduleItem.objects.filter(
                patient=self.patient,
                planned_on=today,
                status__in=[ItemStatus.UPCOMING, ItemStatus.DUE, ItemStatus.OVERDUE],
            ).order_by("kind", "key")
        )

    def visit(self, today):
        for planned in self.planned_today(today):
            planned.refresh_from_db()
            if planned.status == ItemStatus.DONE:
                continue
            getattr(self, f"do_{planned.kind}")(planned, today)

    def do_cycle_visit(self, planned, today):
        if planned.held:
            return
        count_key = f"blood_count:C{planned.cycle}D1"
        if ScheduleItem.objects.filter(
            line=planned.line, key=count_key, status__in=[ItemStatus.DUE, ItemStatus.UPCOMING]
        ).exists():
            cbc(self.patient, self.coord, cycle=planned.cycle, day=1, on=today)
        cycles.cycle_start(patient=self.patient, on=today, by=self.inv, today=today)

    def do_blood_count(self, planned, today):
        if planned.cycle_day in (None, 1):
            return  # baseline and D1 counts are drawn at the cycle visit
        anc = 0.4 if planned.key == "blood_count:C2D15" else 3.0
        cbc(self.patient, self.coord, cycle=planned.cycle, day=planned.cycle_day, on=today, anc=anc)

    def do_ctdna(self, planned, today):
        # What the ctDNA service does when a draw is recorded.
        schedule.schedule_item_mark_done(
            patient=self.patient, kind="ctdna", on=today, ref=f"draw:{today}", by=self.coord
        )

    def do_qol(self, planned, today):
        if planned.key == SKIPPED_QOL:
            return
        qol.qol_submit(
            patient=self.patient, by=self.coord, completed_on=today, responses=ANSWERS, today=today
        )

    def do_imaging(self, planned, today):
        progression = planned.key == "imaging:W40"
        diameters = ["40", "22"] if progression else ["29", "20"]
        self.assess(today, diameters)

    def assess(self, today, diameters):
        tumour.tumour_assessment_record(
            patient=self.patient,
            by=self.inv,
            assessed_on=today,
            modality="CT",
            target_lesions=[
                {"lesion_number": n, "location": f"liver {n}", "diameter_mm": d}
                for n, d in enumerate(diameters, start=1)
            ],
            new_lesions=False,
            non_target="non_cr_non_pd",
            today=today,
        )


def check_reminder_invariants(patient, today):
    due, overdue = reminder_events("due"), reminder_events("overdue")
    assert max(due.values(), default=0) <= 1 and max(overdue.values(), default=0) <= 1
    for event in AuditEvent.objects.filter(action__startswith="schedule_reminder_"):
        reminded = ScheduleItem.objects.get(pk=event.object_id)
        # Never reminded for an item done before the reminder went out.
        assert (
            reminded.done_on is None
            or reminded.done_on >= event.at.date()
            or (
                reminded.history.filter(done_on__isnull=False, history_date__lt=event.at).count()
                == 0
            )
        )
    # Every open item whose window has opened was reminded (due) this morning at the latest.
    late = ScheduleItem.objects.filter(
        patient=patient,
        status__in=[ItemStatus.DUE],
        window_opens__lte=today,
        reminded_due_at__isnull=True,
    )
    assert not late.exists(), list(late.values_list("key", flat=True))


def test_ten_cycles_with_delay_dose_reduction_and_progression(
    clock, clocked_patient, investigator_a, coordinator_a
):
    patient = clocked_patient
    site = Site(patient, investigator_a, coordinator_a)
    c1d1 = T0 + 7 * DAY

    # Day 0: the first job reminds the baselines whose window is open; a second run sends nothing.
    schedule_daily_task()
    first = new_mail(0)
    assert len(first) == 1 and "FR01" in first[0].subject
    assert set(first[0].to) == {"inv_a@example.org", "coord_a@example.org"}
    for key in ("blood_count:baseline", "ctdna:baseline", "qol:baseline"):
        assert key.split(":")[1] in first[0].body
        assert item(patient, key).reminded_due_at is not None
    assert item(patient, "cycle_visit:C1D1").reminded_due_at is None  # window opens on D1-3
    schedule_daily_task()
    assert len(mail.outbox) == 1
    site.assess(T0, ["30", "20"])  # RECIST baseline

    today = T0
    seen_hold = seen_release = seen_delay = False
    while True:
        today += DAY
        clock.to(today)
        schedule_daily_task()
        check_reminder_invariants(patient, today)
        line = patient.lines.get(step="step1")
        started = {c.number: c for c in Cycle.objects.filter(line=line, status="started")}

        # C2D16: the investigator signs the grade 4 decision; C3 goes on hold.
        if 2 in started and today == started[2].started_on + 15 * DAY:
            decision = line.dose_decisions.get(status=DecisionStatus.PROPOSED)
            assert decision.action == "withhold_until_recovery_then_reduce"
            cycles.dose_decision_confirm(
                decision=decision, by=investigator_a, password=PASSWORD, today=today
            )
            line.refresh_from_db()
            assert line.palbociclib_dose_mg == 100
            held = Cycle.objects.get(line=line, number=3)
            assert held.status == CycleStatus.ON_HOLD
            assert item(patient, "cycle_visit:C3D1").held
            assert item(patient, "cycle_visit:C4D1").held  # later cycles wait too
            seen_hold = True

        # C3D1 + 5: recovered (grade 2), the hold closes and C3 starts that day at 100 mg.
        if seen_hold and not seen_release and 3 not in started:
            planned_c3 = started[2].started_on + 28 * DAY
            if today == planned_c3 + 3 * DAY:
                visit = item(patient, "cycle_visit:C3D1")
                assert visit.status == ItemStatus.DUE and visit.held
            if today == planned_c3 + 4 * DAY:
                visit = item(patient, "cycle_visit:C3D1")
                # Window closed yesterday: overdue, but held: neither missed nor reminded.
                assert visit.status == ItemStatus.OVERDUE and visit.reminded_overdue_at is None
            if today == planned_c3 + 5 * DAY:
                cbc(patient, coordinator_a, cycle=3, day=1, on=today, anc=1.2)
                cycles.cycle_hold_release(
                    patient=patient, on=today, reason="ANC 1.2 G/L", by=investigator_a, today=today
                )
                moved = item(patient, "cycle_visit:C3D1")
                assert moved.planned_on == today and moved.status == ItemStatus.DUE
                assert not moved.held and moved.reminded_due_at is None
                seen_release = True

        # C4D20: the site delays C5 by a week.
        if 4 in started and not seen_delay and today == started[4].started_on + 19 * DAY:
            planned_c5 = started[4].started_on + 28 * DAY
            before = item(patient, "cycle_visit:C6D1").planned_on
            cycles.cycle_delay(
                patient=patient,
                planned_d1=planned_c5 + 7 * DAY,
                reason="patient on holiday",
                by=investigator_a,
                today=today,
            )
            assert item(patient, "cycle_visit:C5D1").planned_on == planned_c5 + 7 * DAY
            assert item(patient, "cycle_visit:C6D1").planned_on == before + 7 * DAY
            assert item(patient, "ctdna:C6D1").planned_on == before + 7 * DAY
            reasons = item(patient, "cycle_visit:C5D1").history.values_list(
                "history_change_reason", flat=True
            )
            assert any("patient on holiday" in (r or "") for r in reasons)
            seen_delay = True

        site.visit(today)
        line.refresh_from_db()
        if line.ended_on is not None:
            break
        assert today < T0 + 400 * DAY, "progression never happened"

    assert seen_hold and seen_release and seen_delay
    progression_day = today

    # Cycles: ten started, the dose reduced from C3, C3 five days late.
    started = list(Cycle.objects.filter(line=line).order_by("number"))
    assert len(started) >= 8
    assert [c.palbociclib_dose_mg for c in started[:4]] == [125, 125, 100, 100]
    assert started[0].started_on == c1d1
    assert started[2].started_on == started[1].started_on + 33 * DAY
    assert started[2].dose_change_reason.startswith("grade 4")
    assert started[4].started_on == started[3].started_on + 35 * DAY
    for earlier, later in zip(started, started[1:], strict=False):
        if later.number not in (3, 5):
            assert later.started_on == earlier.started_on + 28 * DAY

    # The skipped questionnaire was recorded as missed and reminded overdue exactly once.
    skipped = item(patient, SKIPPED_QOL)
    assert skipped.status == ItemStatus.MISSED and skipped.reminded_overdue_at is not None
    assert reminder_events("overdue")[str(skipped.pk)] == 1
    assert (
        AuditEvent.objects.filter(action="schedule_item_missed", object_id=str(skipped.pk)).count()
        == 1
    )
    assert (
        not ScheduleItem.objects.filter(patient=patient, status=ItemStatus.MISSED)
        .exclude(pk=skipped.pk)
        .exists()
    )

    # Progression: the line ends, the patient moves to follow-up, later items are cancelled.
    patient.refresh_from_db()
    assert patient.step == "follow_up" and line.end_reason == "progression"
    assert line.ended_on == progression_day
    later = ScheduleItem.objects.filter(patient=patient, planned_on__gt=progression_day)
    assert later.exists() and set(later.values_list("status", flat=True)) == {ItemStatus.CANCELLED}
    assert item(patient, "imaging:W40").status == ItemStatus.DONE

    # After progression the job sends nothing more for this patient.
    sent = len(mail.outbox)
    for offset in range(1, 30):
        clock.to(progression_day + offset * DAY)
        schedule_daily_task()
    assert len(mail.outbox) == sent

    # Every completed item was reminded once when its window opened, never twice.
    due = reminder_events("due")
    done_items = ScheduleItem.objects.filter(patient=patient, status=ItemStatus.DONE)
    # 10 visits, 13 counts (baseline, 10 x D1, C1D15, C2D15), 6 ctDNA (baseline, C2-C10 every
    # 2), 5 imaging (W8-W40), 4 QoL (baseline, C3, C7, C9; C5 missed).
    kinds = Counter(done_items.values_list("kind", flat=True))
    assert kinds == {"cycle_visit": 10, "blood_count": 13, "ctdna": 6, "imaging": 5, "qol": 4}
    assert all(due[str(pk)] <= 1 for pk in done_items.values_list("pk", flat=True))
