"""Adverse events propose palbociclib dose decisions (IBRANCE Table 3 and the ILD rule).

Grade 1-2 non-haematological: no change; grade >= 3 attributed to the treatment: withhold
until grade <= 1, resume one level lower (125 -> 100 -> 75 -> discontinue); severe
pneumonitis: discontinue. Haematological terms are left to the blood counts.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from tests.trial import factories as f
from trial.exceptions import DomainError
from trial.models import Cycle, CycleStatus, DecisionStatus, DoseDecision, TreatmentLine
from trial.services import adverse_events, cycles

from .conftest import PASSWORD, T0, cbc, start

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
REDUCE = "withhold_until_recovery_then_reduce"


def ae(patient, by, *, on, term="Diarrhoea", grade=3, attribution="probable", **extra):
    return adverse_events.adverse_event_record(
        patient=patient,
        by=by,
        term=term,
        grade=grade,
        onset_on=on,
        attribution=attribution,
        serious=extra.pop("serious", False),
        today=extra.pop("today", on),
        **extra,
    )


def regrade(event, by, grade, on, reason="reassessed"):
    return adverse_events.adverse_event_regrade(
        event=event, by=by, grade=grade, reason=reason, today=on
    )


def decisions(event):
    return list(DoseDecision.objects.filter(adverse_event=event).order_by("pk"))


def code_of(call):
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def set_dose(patient, dose_mg):
    """The line's dose as after signed reductions (the path is tested elsewhere)."""
    TreatmentLine.objects.filter(patient=patient).update(palbociclib_dose_mg=dose_mg)


@pytest.fixture
def d1(patient, investigator_a, today):
    """C1 started on its planned day."""
    day = today + 7 * DAY
    start(patient, investigator_a, day)
    return day


def test_grade_2_proposes_nothing_grade_3_proposes_a_reduction(
    patient, d1, coordinator_a, django_capture_on_commit_callbacks
):
    mild = ae(patient, coordinator_a, on=d1 + 3 * DAY, grade=2)
    assert decisions(mild) == []
    with django_capture_on_commit_callbacks(execute=True):
        event = ae(patient, coordinator_a, on=d1 + 10 * DAY, grade=3)
    [decision] = decisions(event)
    assert (decision.status, decision.action, decision.reason_code) == (
        DecisionStatus.PROPOSED,
        REDUCE,
        "non_haem_grade_3_persisting",
    )
    assert (decision.current_dose_mg, decision.proposed_next_dose_mg) == (125, 100)
    assert decision.resume_max_grade == 1  # the stricter resume grade of Table 3
    assert decision.blood_count is None and decision.line == event.line
    assert decision.reason.startswith("Diarrhoea grade 3: ") and "Table 3" in decision.source
    assert decision.history.first().history_user == coordinator_a
    [notice] = mail.outbox
    assert notice.to == ["inv_a@example.org"] and "sign" in notice.subject


@pytest.mark.parametrize(
    ("dose_mg", "action", "next_dose_mg"),
    [(125, REDUCE, 100), (100, REDUCE, 75), (75, "discontinue", None)],
)
def test_each_grade_3_moves_one_level_and_75_mg_means_discontinue(
    patient, d1, coordinator_a, dose_mg, action, next_dose_mg
):
    set_dose(patient, dose_mg)
    [decision] = decisions(ae(patient, coordinator_a, on=d1 + 5 * DAY, grade=3))
    assert (decision.action, decision.current_dose_mg, decision.proposed_next_dose_mg) == (
        action,
        dose_mg,
        next_dose_mg,
    )


@pytest.mark.parametrize("attribution", ["unrelated", "unlikely"])
def test_an_event_not_attributed_to_the_treatment_proposes_nothing(
    patient, d1, coordinator_a, attribution
):
    assert decisions(ae(patient, coordinator_a, on=d1, grade=4, attribution=attribution)) == []


@pytest.mark.parametrize(
    "term",
    ["Neutrophil count decreased", "neutropenia", "Febrile neutropenia", "Anaemia",
     "platelet_count_decreased", "Thrombocytopenia", "Lymphocyte count decreased"],
)  # fmt: skip
def test_haematological_terms_are_left_to_the_blood_counts(patient, d1, coordinator_a, term):
    assert decisions(ae(patient, coordinator_a, on=d1, term=term, grade=4)) == []


def test_grade_5_resolved_and_discontinued_propose_nothing(patient, d1, coordinator_a):
    assert decisions(ae(patient, coordinator_a, on=d1, grade=5)) == []
    resolved = ae(patient, coordinator_a, on=d1, grade=3, resolved_on=d1 + DAY, today=d1 + DAY)
    assert decisions(resolved) == []
    set_dose(patient, 0)
    assert decisions(ae(patient, coordinator_a, on=d1 + DAY, grade=4)) == []


def test_severe_pneumonitis_means_discontinuation_whatever_the_attribution(
    patient, d1, coordinator_a
):
    assert decisions(ae(patient, coordinator_a, on=d1, term="Pneumonitis", grade=2)) == []
    event = ae(patient, coordinator_a, on=d1, term="Pneumonitis", grade=3, attribution="unlikely")
    [decision] = decisions(event)
    assert (decision.action, decision.reason_code, decision.proposed_next_dose_mg) == (
        "discontinue",
        "severe_ild_pneumonitis",
        None,
    )


def test_regrading_proposes_once_and_a_downgrade_withdraws(patient, d1, coordinator_a):
    event = ae(patient, coordinator_a, on=d1 + 2 * DAY, grade=2)
    assert decisions(event) == []
    regrade(event, coordinator_a, 3, d1 + 4 * DAY, reason="worse despite loperamide")
    [first] = decisions(event)
    assert (first.action, first.status) == (REDUCE, DecisionStatus.PROPOSED)
    # Grade 4 proposes the same action: the pending proposal stays, no duplicate.
    regrade(event, coordinator_a, 4, d1 + 5 * DAY)
    assert decisions(event) == [first]
    first.refresh_from_db()
    assert first.status == DecisionStatus.PROPOSED
    # Back to grade 2 before the signature: the proposal no longer applies.
    regrade(event, coordinator_a, 2, d1 + 6 * DAY)
    first.refresh_from_db()
    assert first.status == DecisionStatus.SUPERSEDED
    assert "regraded to 2" in first.history.first().history_change_reason
    event.refresh_from_db()
    assert event.grade == 2
    assert "grade 4 -> 2: reassessed" in event.history.first().history_change_reason
    # Worse again: a new proposal.
    regrade(event, coordinator_a, 3, d1 + 7 * DAY)
    assert [d.status for d in decisions(event)] == [
        DecisionStatus.SUPERSEDED,
        DecisionStatus.PROPOSED,
    ]


def test_regrade_errors(patient, d1, coordinator_a, investigator_b, sponsor):
    event = ae(patient, coordinator_a, on=d1, grade=2)
    assert code_of(lambda: regrade(event, coordinator_a, 2, d1)) == "grade_unchanged"
    assert code_of(lambda: regrade(event, coordinator_a, 6, d1)) == "invalid_input"
    assert code_of(lambda: regrade(event, coordinator_a, 3, d1, reason=" ")) == "reason_required"
    assert code_of(lambda: regrade(event, investigator_b, 3, d1)) == "not_found"
    assert code_of(lambda: regrade(event, sponsor, 3, d1)) == "role_not_allowed"
    event.refresh_from_db()
    assert event.grade == 2 and decisions(event) == []


def test_resolution_before_the_signature_withdraws_the_proposal(patient, d1, coordinator_a):
    event = ae(patient, coordinator_a, on=d1 + DAY, grade=3)
    adverse_events.adverse_event_resolve(
        event=event, by=coordinator_a, resolved_on=d1 + 3 * DAY, reason="resolved", today=d1 + 3 * DAY
    )  # fmt: skip
    [decision] = decisions(event)
    assert decision.status == DecisionStatus.SUPERSEDED


def test_signed_reduction_holds_until_grade_1_then_resumes_one_level_lower(
    patient, d1, investigator_a, coordinator_a
):
    event = ae(patient, coordinator_a, on=d1 + 10 * DAY, grade=3)
    [decision] = decisions(event)
    signed = cycles.dose_decision_confirm(
        decision=decision, by=investigator_a, password=PASSWORD, today=d1 + 11 * DAY
    )
    assert (signed.confirmed_dose_mg, signed.applies_to_cycle) == (100, 2)
    held = Cycle.objects.get(line=event.line, number=2)
    assert held.status == CycleStatus.ON_HOLD and held.hold_decision == signed
    # Worse after the signature: nothing more for this episode.
    regrade(event, coordinator_a, 4, d1 + 12 * DAY)
    assert decisions(event) == [signed]

    def release(on):
        return cycles.cycle_hold_release(
            patient=patient, on=on, reason="recovered", by=investigator_a, today=on
        )

    assert code_of(lambda: release(d1 + 13 * DAY)) == "not_recovered"
    regrade(event, coordinator_a, 2, d1 + 20 * DAY)
    assert code_of(lambda: release(d1 + 20 * DAY)) == "not_recovered"  # Table 3: grade <= 1
    adverse_events.adverse_event_resolve(
        event=event, by=coordinator_a, resolved_on=d1 + 27 * DAY, reason="resolved", today=d1 + 27 * DAY
    )  # fmt: skip
    release(d1 + 27 * DAY)
    c2 = start(patient, investigator_a, d1 + 28 * DAY)
    assert (c2.palbociclib_dose_mg, c2.dose_decision) == (100, signed)
    assert c2.dose_change_reason.startswith("Diarrhoea grade 3")


def test_a_regrade_to_grade_1_lets_the_hold_close(patient, d1, investigator_a, coordinator_a):
    event = ae(patient, coordinator_a, on=d1 + 10 * DAY, grade=3)
    cycles.dose_decision_confirm(
        decision=decisions(event)[0], by=investigator_a, password=PASSWORD, today=d1 + 11 * DAY
    )
    regrade(event, coordinator_a, 1, d1 + 20 * DAY)
    held = cycles.cycle_hold_release(
        patient=patient, on=d1 + 20 * DAY, reason="grade 1", by=investigator_a, today=d1 + 20 * DAY
    )
    assert held.status == CycleStatus.PLANNED


def test_blood_count_and_adverse_event_proposals_do_not_replace_each_other(
    patient, d1, investigator_a, coordinator_a
):
    event = ae(patient, coordinator_a, on=d1 + 13 * DAY, grade=3)
    [from_event] = decisions(event)
    count = cbc(patient, coordinator_a, cycle=1, day=15, on=d1 + 14 * DAY, anc=0.45)  # grade 4
    from_event.refresh_from_db()
    assert from_event.status == DecisionStatus.PROPOSED
    assert count.decision.status == DecisionStatus.PROPOSED
    # Both propose 125 -> 100 for the same cycle: once one is signed the other is stale, so
    # the dose is reduced once.
    cycles.dose_decision_confirm(
        decision=from_event, by=investigator_a, password=PASSWORD, today=d1 + 15 * DAY
    )
    stale = lambda: cycles.dose_decision_confirm(  # noqa: E731
        decision=count.decision, by=investigator_a, password=PASSWORD, today=d1 + 15 * DAY
    )
    assert code_of(stale) == "decision_stale"
    # A later event's proposal does not replace the blood count's either.
    other = ae(patient, coordinator_a, on=d1 + 15 * DAY, term="Rash maculo-papular", grade=3)
    assert decisions(other)[0].current_dose_mg == 100


def test_an_event_without_an_open_line_proposes_nothing(investigator_a, site_a, pada1, today):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)
    TreatmentLine.objects.filter(patient=patient).update(ended_on=today)
    event = ae(patient, investigator_a, on=today, grade=4)
    assert event.line is None and decisions(event) == []


def test_onset_before_c1_proposes_at_the_starting_dose(patient, coordinator_a, today):
    [decision] = decisions(ae(patient, coordinator_a, on=today, grade=3))
    assert (decision.current_dose_mg, decision.proposed_next_dose_mg) == (125, 100)


# --- API ---------------------------------------------------------------------------------------


def test_api_records_regrades_and_signs_an_adverse_event_proposal(
    clocked_patient, clock, api, investigator_a, coordinator_a, investigator_b, sponsor
):
    inv, coord = api(investigator_a), api(coordinator_a)
    patient = clocked_patient
    c1d1 = clock.to(T0 + 7 * DAY)
    assert (
        inv.post(
            f"/api/v1/patients/{patient.pk}/cycles/start/", {"started_on": c1d1.isoformat()}
        ).status_code
        == 201
    )
    day = clock.to(c1d1 + 9 * DAY)
    body = {
        "term": "Stomatitis", "grade": 2, "onset_on": day.isoformat(),
        "attribution": "definite", "serious": False,
    }  # fmt: skip
    response = coord.post(f"/api/v1/patients/{patient.pk}/adverse-events/", body, format="json")
    assert response.status_code == 201, response.content
    event_id = response.json()["id"]
    listed = f"/api/v1/patients/{patient.pk}/dose-decisions/"
    assert inv.get(listed).json() == []
    url = f"/api/v1/adverse-events/{event_id}/regrade/"
    for client, data, status, code in [
        (coord, {"grade": 2, "reason": "x"}, 400, "grade_unchanged"),
        (coord, {"grade": 6, "reason": "x"}, 400, "validation_error"),
        (coord, {"grade": 3}, 400, "validation_error"),
        (api(investigator_b), {"grade": 3, "reason": "x"}, 404, "not_found"),
        (api(sponsor), {"grade": 3, "reason": "x"}, 403, "role_not_allowed"),
    ]:
        refused = client.post(url, data, format="json")
        assert (refused.status_code, refused.json()["code"]) == (status, code), refused.content
    upgraded = coord.post(url, {"grade": 3, "reason": "not eating"}, format="json")
    assert upgraded.status_code == 200 and upgraded.json()["grade"] == 3
    [proposal] = inv.get(listed).json()
    assert (proposal["adverse_event"], proposal["blood_count"], proposal["action"]) == (
        event_id,
        None,
        REDUCE,
    )
    assert (proposal["current_dose_mg"], proposal["proposed_next_dose_mg"]) == (125, 100)
    signed = inv.post(
        f"/api/v1/dose-decisions/{proposal['id']}/confirm/", {"password": PASSWORD}, format="json"
    )
    assert signed.status_code == 200 and signed.json()["confirmed_dose_mg"] == 100
    release = f"/api/v1/patients/{patient.pk}/cycles/release/"
    day = clock.to(day + 6 * DAY)
    refused = inv.post(release, {"on": day.isoformat(), "reason": "ok"}, format="json")
    assert refused.json()["code"] == "not_recovered"
    resolved = coord.post(
        f"/api/v1/adverse-events/{event_id}/resolve/",
        {"resolved_on": day.isoformat(), "reason": "healed"},
        format="json",
    )
    assert resolved.status_code == 200
    released = inv.post(release, {"on": day.isoformat(), "reason": "ok"}, format="json")
    assert released.status_code == 200, released.content
