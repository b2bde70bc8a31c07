"""Minimization allocation: the design's stored draws, the trial's margins, a worked example.

Worked example (Pocock & Simon 1975; range, weights 1, p_preferred 0.8, arms A:B = 1:1):
- patient 1 (visceral yes, >= 12 months), no one before: putting her on A or B gives a range
  of 1 in each factor, G_A = G_B = 2, a tie: A if draw_1 < 0.5, else B;
- patient 2, same levels, after patient 1 on arm X: G_X = 2 + 2 = 4, G_other = 0 + 0 = 0, so
  the other arm is preferred and taken if draw_2 < 0.8;
- patient 3 (visceral no, < 12 months): her levels have no one yet, a tie again.
"""

from __future__ import annotations

import pytest

from randomization.models import MinimizationDraw
from randomization.services.allocation import patient_randomize
from randomization.services.designs import design_generate
from randomization.services.lifecycle import design_activate
from tests.conftest import PASSWORD
from tests.randomization import factories as rf

pytestmark = pytest.mark.django_db

OTHER = {"visceral_metastases": "no", "time_on_step1": "lt_12_months"}


@pytest.fixture
def minimization_design(pada1, statistician):
    version = rf.with_minimization(pada1)
    draft = design_generate(protocol_version=version, by=statistician, seed=rf.SEED, length=10)
    return design_activate(design=draft, by=statistician)


def test_the_worked_example(minimization_design, investigator_a, site_a, pada1, today):
    draws = dict(
        MinimizationDraw.objects.filter(design=minimization_design).values_list(
            "sequence_number", "draw_53bit"
        )
    )
    u = {s: k / 2**53 for s, k in draws.items()}
    allocations = []
    for i, values in enumerate([None, None, OTHER]):
        patient = rf.randomizable(
            by=investigator_a,
            site=site_a,
            version=pada1,
            today=today,
            number=f"M{i}",
            stratification=values,
        )
        allocations.append(
            patient_randomize(
                patient=patient,
                by=investigator_a,
                password=PASSWORD,
                idempotency_key=f"m{i}",
                today=today,
            ).allocation
        )
    first, second, third = allocations
    assert [a.sequence_number for a in allocations] == [1, 2, 3]
    assert {a.sequence_scope for a in allocations} == {"all"}
    assert third.stratum == "visceral_metastases=no|time_on_step1=lt_12_months"

    one = first.minimization
    assert one["tie"] and one["preferred"] == ["A", "B"] and one["scores"] == {"A": 2.0, "B": 2.0}
    assert one["draw"] == u[1] and one["draw_53bit"] == draws[1]
    assert one["probabilities"] == {"A": 0.5, "B": 0.5}
    assert first.arm == ("A" if u[1] < 0.5 else "B")

    x, other = first.arm, "B" if first.arm == "A" else "A"
    two = second.minimization
    assert two["scores"] == {x: 4.0, other: 0.0} and two["preferred"] == [other]
    assert two["counts_before"] == {"visceral_metastases": {x: 1}, "time_on_step1": {x: 1}}
    assert two["probabilities"] == pytest.approx({other: 0.8, x: 0.2})
    assert second.arm == (other if u[2] < 0.8 else x)
    assert two["chose_preferred"] == (u[2] < 0.8)

    three = third.minimization
    assert three["tie"] and three["counts_before"] == {
        "visceral_metastases": {},
        "time_on_step1": {},
    }
    assert third.arm == ("A" if u[3] < 0.5 else "B")
