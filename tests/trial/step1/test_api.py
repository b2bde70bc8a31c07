"""Step 1 API: every operation, every error code, the other-site and read-only personas."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from tests.trial import factories as f
from trial.models import DoseDecision, ItemStatus, Role, ScheduleItem

from .conftest import PASSWORD, T0, enrol_palatine

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
C1D1 = T0 + 7 * DAY


def iso(day: dt.date) -> str:
    return day.isoformat()


def post(client, url, data):
    return client.post(url, data, format="json")


def assert_error(response, status, code):
    assert response.status_code == status, response.content[:400]
    assert response.json()["code"] == code, response.json()
    assert set(response.json()) == {"code", "message", "details"}


@pytest.fixture
def inv(api, investigator_a):
    return api(investigator_a)


@pytest.fixture
def coord(api, coordinator_a):
    return api(coordinator_a)


@pytest.fixture
def other_site(api, investigator_b):
    return api(investigator_b)


@pytest.fixture
def sponsor_client(api, sponsor):
    return api(sponsor)


@pytest.fixture
def started(clocked_patient, clock, inv):
    """The patient with C1 started on its planned day."""
    clock.to(C1D1)
    response = post(
        inv, f"/api/v1/patients/{clocked_patient.pk}/cycles/start/", {"started_on": iso(C1D1)}
    )
    assert response.status_code == 201, response.content
    return clocked_patient


def count_body(cycle, day, on, anc=3.0, **extra):
    return {
        "drawn_on": iso(on),
        "cycle": cycle,
        "day": day,
        "values": {
            "anc": {"value": str(anc), "unit": "G/L"},
            "platelets": {"value": "250", "unit": "G/L"},
            "haemoglobin": {"value": "12.5", "unit": "g/dL"},
        },
        **extra,
    }


# --- schedule and cycles ----------------------------------------------------------------------


def test_schedule_is_grouped_and_scoped(clocked_patient, inv, other_site, sponsor_client):
    url = f"/api/v1/patients/{clocked_patient.pk}/schedule/"
    body = inv.get(url).json()
    assert set(body) == {"upcoming", "due", "overdue", "done", "missed"}
    due_keys = [i["key"] for i in body["due"]]
    assert "blood_count:baseline" in due_keys and "ctdna:baseline" in due_keys
    assert any(i["key"] == "cycle_visit:C1D1" for i in body["upcoming"])
    assert sponsor_client.get(url).status_code == 200
    assert_error(other_site.get(url), 404, "not_found")


def test_cycle_start_hold_release_delay(started, clock, inv, sponsor_client, other_site):
    base = f"/api/v1/patients/{started.pk}/cycles/"
    cycles = inv.get(base).json()
    assert [(c["number"], c["status"], c["palbociclib_dose_mg"]) for c in cycles] == [
        (1, "started", 125)
    ]
    assert_error(
        post(sponsor_client, base + "hold/", {"on": iso(C1D1), "reason": "x"}),
        403,
        "permission_denied",
    )
    assert_error(
        post(other_site, base + "hold/", {"on": iso(C1D1), "reason": "x"}), 404, "not_found"
    )
    assert_error(post(inv, base + "hold/", {"on": iso(C1D1)}), 400, "validation_error")
    assert_error(
        post(inv, base + "release/", {"on": iso(C1D1), "reason": "x"}), 422, "no_hold_open"
    )
    clock.to(C1D1 + 20 * DAY)
    held = post(inv, base + "hold/", {"on": iso(C1D1 + 20 * DAY), "reason": "dental surgery"})
    assert held.status_code == 200 and held.json()["status"] == "on_hold"
    assert_error(
        post(inv, base + "hold/", {"on": iso(C1D1 + 20 * DAY), "reason": "x"}), 422, "hold_open"
    )
    clock.to(C1D1 + 28 * DAY)
    assert_error(post(inv, base + "start/", {"started_on": iso(C1D1 + 28 * DAY)}), 422, "hold_open")
    released = post(inv, base + "release/", {"on": iso(C1D1 + 28 * DAY), "reason": "healed"})
    assert released.json()["status"] == "planned"
    assert_error(
        post(inv, base + "delay/", {"planned_d1": iso(C1D1 + 27 * DAY), "reason": "x"}),
        422,
        "delay_not_later",
    )
    delayed = post(inv, base + "delay/", {"planned_d1": iso(C1D1 + 35 * DAY), "reason": "holiday"})
    assert delayed.json()["planned_d1"] == iso(C1D1 + 35 * DAY)
    assert_error(
        post(inv, base + "start/", {"started_on": iso(C1D1 + 28 * DAY)}),
        422,
        "cycle_start_too_early",
    )
    assert_error(
        post(inv, base + "start/", {"started_on": iso(C1D1 + 40 * DAY)}), 400, "date_in_future"
    )


def test_cycle_start_before_enrolment_and_without_enrolment(
    clocked_patient, clock, inv, investigator_a, site_a, pada1
):
    base = f"/api/v1/patients/{clocked_patient.pk}/cycles/start/"
    assert_error(post(inv, base, {"started_on": iso(T0 - DAY)}), 422, "date_before_enrolment")
    screening = f.registered(by=investigator_a, site=site_a, version=pada1, today=T0, number="S9")
    url = f"/api/v1/patients/{screening.pk}/cycles/start/"
    assert_error(post(inv, url, {"started_on": iso(T0)}), 422, "not_enrolled")


# --- blood counts and dose decisions ------------------------------------------------------------


def test_blood_count_returns_grades_and_the_proposal(started, clock, coord, sponsor_client):
    clock.to(C1D1 + 14 * DAY)
    url = f"/api/v1/patients/{started.pk}/blood-counts/"
    body = count_body(1, 15, C1D1 + 14 * DAY, anc=0.8, temperature_c="38.6")
    response = post(coord, url, body)
    assert response.status_code == 201, response.content
    data = response.json()
    count = data["blood_count"]
    assert count["grades"]["anc"]["grade"] == 3 and count["ctcae_version"] == "4.03"
    assert count["haemoglobin_g_per_l"] == "125.0000"
    assert count["entered"]["haemoglobin"] == {"value": "12.5000", "unit": "g/dL"}
    assert count["fever"] is True
    assert data["proposal"]["action"] == "withhold_until_recovery_then_reduce"
    assert data["dose_decision"]["status"] == "proposed"
    assert data["dose_decision"]["proposed_next_dose_mg"] == 100
    listed = sponsor_client.get(url).json()
    assert listed["count"] == 1
    assert_error(post(sponsor_client, url, body), 403, "permission_denied")


@pytest.mark.parametrize(
    ("cycle", "day", "offset", "code"),
    [
        (1, 29, 14, "day_outside_cycle"),
        (3, 1, 14, "day_outside_cycle"),
        (2, 15, 14, "day_outside_cycle"),
    ],
)
def test_blood_count_outside_any_cycle_is_refused(started, clock, coord, cycle, day, offset, code):
    clock.to(C1D1 + offset * DAY)
    url = f"/api/v1/patients/{started.pk}/blood-counts/"
    assert_error(post(coord, url, count_body(cycle, day, C1D1 + offset * DAY)), 422, code)
    assert not started.blood_counts.exists()


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"anc": {"value": "3", "unit": "mg/L"}}, "unknown_unit"),
        ({"anc": {"value": "-1", "unit": "G/L"}}, "implausible_value"),
        ({"haemoglobin": {"value": "2000", "unit": "g/L"}}, "implausible_value"),
        ({}, "validation_error"),
        ({"anc": {"value": "abc", "unit": "G/L"}}, "validation_error"),
    ],
)
def test_blood_count_bad_values_are_refused(started, clock, coord, values, code):
    clock.to(C1D1 + 14 * DAY)
    body = {**count_body(1, 15, C1D1 + 14 * DAY), "values": values}
    assert_error(post(coord, f"/api/v1/patients/{started.pk}/blood-counts/", body), 400, code)
    assert not started.blood_counts.exists()


def test_blood_count_temperature_out_of_range(started, clock, coord):
    clock.to(C1D1 + 14 * DAY)
    body = count_body(1, 15, C1D1 + 14 * DAY, temperature_c="52.0")
    assert_error(
        post(coord, f"/api/v1/patients/{started.pk}/blood-counts/", body), 400, "implausible_value"
    )


@pytest.fixture
def decision(started, clock, coord):
    clock.to(C1D1 + 14 * DAY)
    body = count_body(1, 15, C1D1 + 14 * DAY, anc=0.4)
    response = post(coord, f"/api/v1/patients/{started.pk}/blood-counts/", body)
    return DoseDecision.objects.get(pk=response.json()["dose_decision"]["id"])


def test_dose_decision_signature_errors_then_success(
    decision, inv, coord, other_site, sponsor_client, started
):
    url = f"/api/v1/dose-decisions/{decision.pk}/confirm/"
    assert_error(post(coord, url, {"password": PASSWORD}), 403, "role_not_allowed")
    assert_error(post(inv, url, {"password": "wrong"}), 403, "wrong_password")
    assert_error(post(other_site, url, {"password": PASSWORD}), 404, "not_found")
    assert_error(post(sponsor_client, url, {"password": PASSWORD}), 403, "permission_denied")
    assert_error(post(inv, url, {}), 400, "validation_error")
    assert_error(post(inv, url, {"password": PASSWORD, "dose_mg": 75}), 422, "dose_not_allowed")
    decision.refresh_from_db()
    assert decision.status == "proposed" and decision.signed_at is None
    signed = post(inv, url, {"password": PASSWORD, "comment": "agreed"})
    assert signed.status_code == 200, signed.content
    body = signed.json()
    assert (body["status"], body["confirmed_dose_mg"], body["applies_to_cycle"]) == (
        "confirmed",
        100,
        2,
    )
    assert body["signed_by"] == "inv_a" and body["signature_meaning"] == "approval"
    assert_error(post(inv, url, {"password": PASSWORD}), 409, "decision_not_pending")
    listed = inv.get(f"/api/v1/patients/{started.pk}/dose-decisions/").json()
    assert [d["id"] for d in listed] == [decision.pk]
    cycles = inv.get(f"/api/v1/patients/{started.pk}/cycles/").json()
    assert cycles[-1]["status"] == "on_hold" and cycles[-1]["number"] == 2


def test_release_needs_recovery(decision, inv, clock, coord, started):
    post(inv, f"/api/v1/dose-decisions/{decision.pk}/confirm/", {"password": PASSWORD})
    base = f"/api/v1/patients/{started.pk}/cycles/"
    clock.to(C1D1 + 21 * DAY)
    assert_error(
        post(inv, base + "release/", {"on": iso(C1D1 + 21 * DAY), "reason": "ok"}),
        422,
        "not_recovered",
    )
    post(
        coord,
        f"/api/v1/patients/{started.pk}/blood-counts/",
        count_body(1, 22, C1D1 + 21 * DAY, anc=1.1),
    )
    assert (
        post(inv, base + "release/", {"on": iso(C1D1 + 21 * DAY), "reason": "ok"}).status_code
        == 200
    )


# --- adverse events ---------------------------------------------------------------------------


def ae_body(**overrides):
    return {
        "term": "Febrile neutropenia",
        "grade": 3,
        "onset_on": iso(C1D1 + 10 * DAY),
        "attribution": "probable",
        "serious": True,
        **overrides,
    }


def test_serious_adverse_event_notifies_and_starts_the_clock(
    started, clock, coord, api, data_manager, sponsor_client, django_capture_on_commit_callbacks
):
    clock.to(C1D1 + 11 * DAY)
    url = f"/api/v1/patients/{started.pk}/adverse-events/"
    with django_capture_on_commit_callbacks(execute=True):
        response = post(coord, url, ae_body())
    assert response.status_code == 201, response.content
    event = response.json()
    assert event["serious"] and not event["sae_overdue"] and event["ctcae_version"] == "4.03"
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {"inv_a@example.org", "safety@localhost"}
    report = f"/api/v1/adverse-events/{event['id']}/sae-report/"
    assert_error(post(sponsor_client, report, {}), 403, "role_not_allowed")
    clock.to(C1D1 + 13 * DAY)
    assert sponsor_client.get(url).json()["results"][0]["sae_overdue"] is True
    reported = post(api(data_manager), report, {})
    assert reported.status_code == 200 and reported.json()["sae_reported_at"]
    assert_error(post(coord, report, {}), 409, "sae_already_reported")


def test_adverse_event_errors(started, clock, coord, other_site):
    clock.to(C1D1 + 11 * DAY)
    url = f"/api/v1/patients/{started.pk}/adverse-events/"
    assert_error(post(coord, url, ae_body(grade=6)), 400, "validation_error")
    assert_error(post(coord, url, ae_body(onset_on=iso(T0 - DAY))), 422, "date_before_enrolment")
    assert_error(post(coord, url, ae_body(onset_on=iso(C1D1 + 12 * DAY))), 400, "date_in_future")
    assert_error(
        post(coord, url, ae_body(resolved_on=iso(C1D1 + 9 * DAY))), 400, "resolution_before_onset"
    )
    assert_error(post(other_site, url, ae_body()), 404, "not_found")
    mild = post(coord, url, ae_body(serious=False, grade=1)).json()
    assert_error(
        post(coord, f"/api/v1/adverse-events/{mild['id']}/sae-report/", {}), 422, "not_serious"
    )
    resolve = f"/api/v1/adverse-events/{mild['id']}/resolve/"
    assert_error(
        post(coord, resolve, {"resolved_on": iso(C1D1 + 5 * DAY), "reason": "x"}),
        400,
        "resolution_before_onset",
    )
    done = post(coord, resolve, {"resolved_on": iso(C1D1 + 11 * DAY), "reason": "resolved"})
    assert done.json()["resolved_on"] == iso(C1D1 + 11 * DAY)
    assert_error(
        post(other_site, resolve, {"resolved_on": iso(C1D1 + 11 * DAY), "reason": "x"}),
        404,
        "not_found",
    )


# --- tumour assessments -----------------------------------------------------------------------


def lesions(*diameters):
    return [
        {"lesion_number": n, "location": f"liver segment {n}", "diameter_mm": d}
        for n, d in enumerate(diameters, start=1)
    ]


def assess(client, patient, on, diameters, **extra):
    body = {
        "assessed_on": iso(on),
        "modality": "CT",
        "target_lesions": lesions(*diameters),
        "non_target": "non_cr_non_pd",
        **extra,
    }
    return post(client, f"/api/v1/patients/{patient.pk}/tumour-assessments/", body)


def test_tumour_assessments_compute_the_response(clocked_patient, clock, inv, sponsor_client):
    patient = clocked_patient
    assert_error(assess(inv, patient, T0 - DAY, ["30", "20"]), 422, "assessment_before_enrolment")
    baseline = assess(inv, patient, T0, ["30", "20"])
    assert baseline.status_code == 201 and baseline.json()["is_baseline"]
    assert baseline.json()["overall_response"] == "" and baseline.json()["sum_mm"] == "50.0"
    clock.to(T0 + 63 * DAY)
    assert_error(assess(inv, patient, T0, ["30", "20"]), 422, "assessment_out_of_order")
    assert_error(assess(inv, patient, T0 + 63 * DAY, ["30"]), 400, "target_lesions_mismatch")
    assert_error(
        assess(inv, patient, T0 + 63 * DAY, ["-3", "20"]), 400, "recist_invalid_measurement"
    )
    assert_error(assess(inv, patient, T0 + 63 * DAY, ["x", "20"]), 400, "validation_error")
    pr = assess(inv, patient, T0 + 63 * DAY, ["20", "15"])
    assert pr.json()["overall_response"] == "pr" and pr.json()["nadir_sum_mm"] == "50.0"
    assert pr.json()["change_from_baseline_pct"] == "-30.00"
    listed = sponsor_client.get(f"/api/v1/patients/{patient.pk}/tumour-assessments/").json()
    assert [a["overall_response"] for a in listed] == ["pr", ""]


def test_baseline_without_lesions_is_refused(clocked_patient, inv):
    response = assess(inv, clocked_patient, T0, [], non_target="absent")
    assert_error(response, 400, "recist_no_lesions")


def test_progression_ends_the_line_and_later_writes_have_no_open_line(started, clock, inv, coord):
    assess(inv, started, C1D1, ["30", "20"])
    clock.to(C1D1 + 56 * DAY)
    pd = assess(inv, started, C1D1 + 56 * DAY, ["40", "22"])
    assert pd.json()["overall_response"] == "pd"
    started.refresh_from_db()
    assert started.step == "follow_up"
    body = count_body(2, 1, C1D1 + 56 * DAY)
    assert_error(
        post(coord, f"/api/v1/patients/{started.pk}/blood-counts/", body), 422, "no_open_line"
    )
    statuses = set(
        ScheduleItem.objects.filter(
            patient=started, kind="ctdna", planned_on__gt=C1D1 + 56 * DAY
        ).values_list("status", flat=True)
    )
    assert statuses <= {ItemStatus.CANCELLED}


# --- QoL --------------------------------------------------------------------------------------


def test_qol_scores_and_refusals(started, clock, coord):
    url = f"/api/v1/patients/{started.pk}/qol/"
    answers = {str(i): 2 for i in range(1, 29)} | {"29": 5, "30": 5}
    response = post(coord, url, {"completed_on": iso(C1D1), "responses": answers})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["pf2"] == pytest.approx(66.6667, abs=1e-4)
    assert body["ql2"] == pytest.approx(66.6667, abs=1e-4)
    assert body["responses"]["29"] == 5 and "wording" not in str(body)
    item = ScheduleItem.objects.get(patient=started, key="qol:baseline")
    assert item.status == ItemStatus.DONE
    bad = {**answers, "3": 5}
    assert_error(
        post(coord, url, {"completed_on": iso(C1D1), "responses": bad}),
        400,
        "qol_item_out_of_range",
    )
    unknown = {**answers, "0": 1}
    del unknown["1"]
    assert_error(
        post(coord, url, {"completed_on": iso(C1D1), "responses": unknown}), 400, "qol_unknown_item"
    )
    too_many = {**answers, "31": 1}
    assert_error(
        post(coord, url, {"completed_on": iso(C1D1), "responses": too_many}),
        400,
        "qol_too_many_items",
    )
    assert started.qol_questionnaires.count() == 1


# --- PALATINE ---------------------------------------------------------------------------------


def test_locoregional_and_survival_only_in_palatine(
    clocked_patient, clock, inv, investigator_a, site_a, palatine
):
    url = f"/api/v1/patients/{clocked_patient.pk}/locoregional-treatments/"
    body = {"treatment_modality": "radiotherapy", "radiotherapy_start_on": iso(T0)}
    assert_error(post(inv, url, body), 422, "not_in_protocol")
    contact = {"contacted_on": iso(T0), "contact_method": "phone", "vital_status": "alive"}
    assert_error(
        post(inv, f"/api/v1/patients/{clocked_patient.pk}/survival-contacts/", contact),
        422,
        "not_in_protocol",
    )
    patient = enrol_palatine(by=investigator_a, site=site_a, version=palatine, today=T0)
    lrt_item = ScheduleItem.objects.get(patient=patient, kind="locoregional_treatment")
    assert lrt_item.planned_on == T0 + 7 * DAY + 26 * dt.timedelta(weeks=1)
    clock.to(lrt_item.planned_on)
    surgery = {
        "treatment_modality": "surgery",
        "planned_surgery_type": "mastectomy",
        "surgery_type": "breast_conserving",
        "surgery_on": iso(lrt_item.planned_on),
        "margins": "negative",
        "pathological_response": "partial",
        "residual_cellularity_pct": 30,
    }
    missing = {k: v for k, v in surgery.items() if k != "margins"}
    assert_error(
        post(inv, f"/api/v1/patients/{patient.pk}/locoregional-treatments/", missing),
        400,
        "invalid_input",
    )
    done = post(inv, f"/api/v1/patients/{patient.pk}/locoregional-treatments/", surgery)
    assert done.status_code == 201, done.content
    assert done.json()["converted_to_conservative"] is True
    lrt_item.refresh_from_db()
    assert lrt_item.status == ItemStatus.DONE
    dead_without_date = {
        **contact,
        "contacted_on": iso(lrt_item.planned_on),
        "vital_status": "dead",
    }
    assert_error(
        post(inv, f"/api/v1/patients/{patient.pk}/survival-contacts/", dead_without_date),
        400,
        "invalid_input",
    )
    alive = {**contact, "contacted_on": iso(lrt_item.planned_on)}
    saved = post(inv, f"/api/v1/patients/{patient.pk}/survival-contacts/", alive)
    assert saved.status_code == 201 and saved.json()["last_known_alive_on"] == alive["contacted_on"]


# --- fulvestrant, toxicity list, due list ------------------------------------------------------


def test_fulvestrant_injection_needs_fulvestrant_in_the_regimen(started, inv):
    url = f"/api/v1/patients/{started.pk}/fulvestrant-injections/"
    assert_error(post(inv, url, {"given_on": iso(C1D1)}), 422, "not_in_protocol")


def test_toxicity_list_is_scoped_and_validated(
    started, clock, coord, api, investigator_b, site_b, pada1, sponsor_client, other_site
):
    clock.to(C1D1 + 14 * DAY)
    post(
        coord,
        f"/api/v1/patients/{started.pk}/blood-counts/",
        count_body(1, 15, C1D1 + 14 * DAY, anc=0.8),
    )
    post(
        coord,
        f"/api/v1/patients/{started.pk}/blood-counts/",
        count_body(1, 15, C1D1 + 14 * DAY, anc=1.6),
    )
    url = "/api/v1/haematological-toxicities/"
    rows = sponsor_client.get(url).json()["results"]
    assert [(r["anc_grade"], r["haem_max_grade"], r["step"]) for r in rows] == [(3, 3, "step1")]
    assert other_site.get(url).json()["count"] == 0
    assert sponsor_client.get(url + "?min_grade=1").json()["count"] == 2
    assert_error(sponsor_client.get(url + "?min_grade=9"), 400, "invalid_input")


def test_due_list_shows_each_site_its_own_items(clocked_patient, inv, other_site, sponsor_client):
    mine = inv.get("/api/v1/schedule/due/").json()
    assert {r["key"] for r in mine["results"]} >= {"blood_count:baseline", "ctdna:baseline"}
    assert all(r["site"] == "FR01" for r in mine["results"])
    assert other_site.get("/api/v1/schedule/due/").json()["count"] == 0
    assert sponsor_client.get("/api/v1/schedule/due/?site=FR01").json()["count"] == mine["count"]


def test_lab_account_cannot_read_clinical_lists(clocked_patient, api, site_a):
    from tests.conftest import make_user

    lab = api(make_user("lab1", Role.LAB, [site_a]))
    response = lab.get(f"/api/v1/patients/{clocked_patient.pk}/schedule/")
    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/schedule/due/?site=FR01%00",
        "/api/v1/schedule/due/?site=fr-01",
        "/api/v1/haematological-toxicities/?step=step1%00",
        "/api/v1/haematological-toxicities/?min_grade=%00",
    ],
)
def test_query_filters_are_validated_before_reaching_sql(url, clocked_patient, sponsor_client):
    assert_error(sponsor_client.get(url), 400, "invalid_input")
