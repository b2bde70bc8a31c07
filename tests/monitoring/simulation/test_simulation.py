"""A small simulated trial through the product: it completes, its records are consistent, the
report renders, and the same seed gives the same figures.

Each run is a full trial on the database (about 10-20 s on PostgreSQL): two runs of the same
configuration, the second compared with the first.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from django.core import mail

from monitoring.models import CtdnaResult, PatientCtdnaStatus, TriggerOutbox
from monitoring.simulation import SimulationError, run_simulation
from randomization.models import Allocation, Crossover
from trial.models import (
    AuditEvent,
    DecisionStatus,
    DoseDecision,
    OverallResponse,
    Patient,
    Step2Trigger,
    TriggerStatus,
    TumourAssessment,
)

from .conftest import END, SMALL

# Real commits: the outbox and e-mails leave after commit (on_commit), as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def check_every_randomized_patient_passed_the_gate():
    allocations = list(Allocation.objects.select_related("patient"))
    assert allocations, "the small trial randomizes"
    assert len({a.patient_id for a in allocations}) == len(allocations)
    for allocation in allocations:
        trigger = Step2Trigger.objects.get(patient=allocation.patient, status="randomized")
        assert trigger.imaging_on is not None and trigger.closed_on == allocation.allocated_on
        rising = CtdnaResult.objects.filter(
            patient=allocation.patient,
            patient_status=PatientCtdnaStatus.RISING,
            analysed_on=trigger.detected_on,
        )
        assert rising.exists()
        imaging = TumourAssessment.objects.get(
            patient=allocation.patient, assessed_on=trigger.imaging_on
        )
        assert imaging.overall_response != OverallResponse.PD
        assert trigger.imaging_on <= allocation.allocated_on <= trigger.randomize_by


def check_trial_numbers_are_gapless_per_site():
    numbers = defaultdict(list)
    for site, trial_number in Patient.objects.exclude(trial_number=None).values_list(
        "site__code", "trial_number"
    ):
        assert trial_number.startswith(f"PADA1-{site}-")
        numbers[site].append(int(trial_number.rsplit("-", 1)[1]))
    assert numbers
    for site_numbers in numbers.values():
        assert sorted(site_numbers) == list(range(1, len(site_numbers) + 1))


def check_the_product_records_are_complete():
    # every dose proposal was signed by an investigator (none left waiting or unsigned)
    assert not DoseDecision.objects.filter(status=DecisionStatus.PROPOSED).exists()
    assert not DoseDecision.objects.filter(
        status=DecisionStatus.CONFIRMED, signed_by__isnull=True
    ).exists()
    # every rising result went through the outbox and the worker, once
    assert TriggerOutbox.objects.exists()
    assert not TriggerOutbox.objects.filter(processed_at=None).exists()
    # a crossover only after progression on Arm A
    for crossover in Crossover.objects.select_related("allocation", "progression"):
        assert crossover.allocation.arm == "A" and crossover.progression.progression
    # reminders: at most once per item and stage
    for action in ("schedule_reminder_due", "schedule_reminder_overdue"):
        per_item = Counter(
            AuditEvent.objects.filter(action=action).values_list("object_id", flat=True)
        )
        assert per_item and max(per_item.values()) == 1


@pytest.mark.parametrize("attempt", ["first", "second"])
def test_small_trial_is_consistent_and_reproducible(attempt, figures_of_earlier_runs, pada1):
    state = random.getstate()
    result, report = run_simulation(SMALL, last_day=END)
    assert random.getstate() == state  # private random streams only

    check_every_randomized_patient_passed_the_gate()
    check_trial_numbers_are_gapless_per_site()
    check_the_product_records_are_complete()
    assert Step2Trigger.objects.filter(status=TriggerStatus.RANDOMIZED).count() == len(
        Allocation.objects.all()
    )
    assert mail.outbox == []  # the run's mailbox counts, it does not keep

    figures = report.figures
    assert figures["registered"] == SMALL.patients
    assert figures["enrolled"] + figures["screen_failed"] <= figures["registered"]
    assert figures["randomized"] == figures["arm_a"] + figures["arm_b"] >= 1
    assert figures["rising"] >= figures["randomized"]
    assert result.world.token_rotations > 0 and result.meter.total_queries > 0
    for heading in ("## ESR1 ctDNA and Step 2", "## PFS from randomization", "hazard ratio"):
        assert heading.lower() in report.markdown.lower()
    assert "Where the time goes" in report.markdown
    # the latent PFS row reads the plan's draws of the randomized patients, per arm
    arms = {run.arm for run in result.runs if run.arm}
    latent = figures["latent_pfs_medians_months"]
    assert {arm for arm, median in latent.items() if median is not None} == arms
    for arm in arms:
        drawn = sorted(r.plan.pfs_days[arm] for r in result.runs if r.arm == arm)
        assert min(drawn) / 30.4375 <= latent[arm] <= max(drawn) / 30.4375
    assert "Latent PFS drawn for the randomized" in report.markdown

    earlier = figures_of_earlier_runs.setdefault("small", figures)
    assert figures == earlier  # the second run reproduces the first


def test_refuses_a_trial_that_already_has_patients(pada1, investigator_a, site_a):
    from tests.trial import factories as f

    f.registered(by=investigator_a, site=site_a, version=pada1)
    with pytest.raises(SimulationError, match="already has patients"):
        run_simulation(SMALL, last_day=END)
