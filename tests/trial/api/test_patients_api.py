"""API v1 foundation operations: every error code, the other-site and read-only personas."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.trial import factories as f
from trial.models import ApiToken
from trial.services.accounts import api_token_issue, api_token_revoke

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {
        "site": "FR01",
        "protocol": "PADA1",
        "screening_number": "S-100",
        "year_of_birth": 1963,
        "sex": "female",
        "menopausal_status": "postmenopausal",
    }
    body.update(overrides)
    return client.post("/api/v1/patients/", body, format="json")


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code, body
    return body


def test_the_full_registration_journey(api, investigator_a, pada1, today):
    client = api(investigator_a)
    r = register(client, year_of_birth=today.year - 62)
    assert r.status_code == 201, r.json()
    pid = r.json()["id"]
    r = client.post(
        f"/api/v1/patients/{pid}/consents/",
        {"form_version": "ICF-1.0", "consented_on": str(today), "taken_by": "inv_a"},
    )
    assert r.status_code == 201, r.json()
    values = dict(f.ELIGIBLE_PADA1, age={"value": 62, "unit": "years"})
    r = client.post(
        f"/api/v1/patients/{pid}/screening/",
        {"screening_date": str(today), "values": values},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["eligible"] is True
    r = client.post(
        f"/api/v1/patients/{pid}/enrol/",
        {"endocrine_drug": "anastrozole", "planned_c1d1": str(today + dt.timedelta(3))},
    )
    assert r.status_code == 201, r.json()
    assert r.json()["patient"]["trial_number"] == "PADA1-FR01-0001"
    assert r.json()["treatment_line"]["palbociclib_dose_mg"] == 125
    r = client.get(f"/api/v1/patients/{pid}/audit/")
    assert {e["record"] for e in r.json()} >= {
        "trial.Patient",
        "trial.Consent",
        "trial.EligibilityAssessment",
        "trial.TreatmentLine",
    }
    csv = client.get(f"/api/v1/patients/{pid}/audit/?format=csv")
    assert csv["Content-Type"] == "text/csv"
    assert csv.content.decode().splitlines()[0] == "at,user,record,record_id,action,changes,reason"


def test_list_and_retrieve_are_site_scoped(
    api, investigator_a, investigator_b, site_a, site_b, pada1, today
):
    a = f.registered(by=investigator_a, site=site_a, version=pada1, today=today, number="A1")
    f.registered(by=investigator_b, site=site_b, version=pada1, today=today, number="B1")
    r = api(investigator_a).get("/api/v1/patients/")
    assert [p["screening_number"] for p in r.json()["results"]] == ["A1"]
    assert_error(api(investigator_b).get(f"/api/v1/patients/{a.pk}/"), 404, "not_found")
    assert [s["code"] for s in api(investigator_a).get("/api/v1/sites/").json()["results"]] == [
        "FR01"
    ]


def test_sponsor_reads_all_sites_pseudonymised_and_cannot_write(
    api, sponsor, investigator_a, investigator_b, site_a, site_b, pada1, today
):
    a = f.registered(by=investigator_a, site=site_a, version=pada1, today=today, number="A1")
    f.registered(by=investigator_b, site=site_b, version=pada1, today=today, number="B1")
    client = api(sponsor)
    results = client.get("/api/v1/patients/").json()["results"]
    assert len(results) == 2
    assert all(p["screening_number"] is None for p in results)
    assert_error(register(client), 403, "permission_denied")
    assert_error(client.post(f"/api/v1/patients/{a.pk}/enrol/", {}), 403, "permission_denied")
    assert_error(
        client.patch(f"/api/v1/patients/{a.pk}/", {"sex": "male", "reason": "x"}),
        403,
        "permission_denied",
    )


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [
        ({"screening_number": "bad number!"}, 400, "validation_error"),
        ({"site": "FR02"}, 404, "not_found"),
        ({"protocol": "NOPE"}, 404, "not_found"),
        ({"sex": "x"}, 400, "validation_error"),
    ],
)
def test_register_errors(api, investigator_a, site_b, pada1, override, status, code):
    assert_error(register(api(investigator_a), **override), status, code)


def test_duplicate_screening_number(api, investigator_a, pada1):
    client = api(investigator_a)
    assert register(client).status_code == 201
    assert_error(register(client), 409, "duplicate_screening_number")


def test_screening_errors(api, investigator_a, site_a, pada1, today):
    client = api(investigator_a)
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    url = f"/api/v1/patients/{patient.pk}/screening/"
    body = {"screening_date": str(today), "values": f.ELIGIBLE_PADA1}
    assert_error(client.post(url, body, format="json"), 422, "consent_missing")
    f.consented(by=investigator_a, patient=patient, today=today)
    early = dict(body, screening_date=str(today - dt.timedelta(days=2)))
    assert_error(client.post(url, early, format="json"), 422, "consent_after_screening")
    bad = dict(body, values=dict(f.ELIGIBLE_PADA1, platelets={"value": -5, "unit": "G/L"}))
    err = assert_error(client.post(url, bad, format="json"), 400, "implausible_value")
    assert "platelets" in err["details"]["fields"]
    unit = dict(body, values=dict(f.ELIGIBLE_PADA1, platelets={"value": 5, "unit": "mg"}))
    assert_error(client.post(url, unit, format="json"), 400, "screening_data_invalid")
    future = dict(body, screening_date=str(today + dt.timedelta(days=1)))
    assert_error(client.post(url, future, format="json"), 400, "invalid_input")
    assert_error(client.post(url, {"values": {}}, format="json"), 400, "validation_error")


def test_enrol_errors(api, investigator_a, site_a, pada1, today):
    client = api(investigator_a)
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    url = f"/api/v1/patients/{patient.pk}/enrol/"
    body = {"endocrine_drug": "letrozole", "planned_c1d1": str(today)}
    assert_error(client.post(url, body), 422, "consent_missing")
    f.consented(by=investigator_a, patient=patient, today=today)
    assert_error(client.post(url, body), 422, "eligibility_missing")
    f.screened(by=investigator_a, patient=patient, today=today, ecog={"value": 3, "unit": "score"})
    err = assert_error(client.post(url, body), 422, "not_eligible")
    assert err["details"]["failures"][0]["id"] == "ecog"
    f.screened(by=investigator_a, patient=patient, today=today)
    past = dict(body, planned_c1d1=str(today - dt.timedelta(days=1)))
    assert_error(client.post(url, past), 400, "invalid_input")
    assert client.post(url, body).status_code == 201
    assert_error(client.post(url, body), 409, "already_enrolled")
    assert_error(
        client.post(f"/api/v1/patients/{patient.pk}/screen-failure/", {}), 422, "invalid_state"
    )


def test_update_requires_a_reason(api, investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    client = api(investigator_a)
    url = f"/api/v1/patients/{patient.pk}/"
    assert_error(client.patch(url, {"year_of_birth": 1961}), 400, "validation_error")
    assert_error(
        client.patch(url, {"year_of_birth": 1961, "reason": "  "}), 400, "validation_error"
    )
    r = client.patch(url, {"year_of_birth": 1961, "reason": "source document check"})
    assert r.status_code == 200 and r.json()["year_of_birth"] == 1961


def test_consent_withdrawal(api, investigator_a, investigator_b, site_a, pada1, today):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)
    consent = patient.consents.get()
    url = f"/api/v1/consents/{consent.pk}/withdraw/"
    body = {"withdrawn_on": str(today), "reason": "moved abroad"}
    assert_error(api(investigator_b).post(url, body), 404, "not_found")
    assert api(investigator_a).post(url, body).status_code == 200
    assert_error(api(investigator_a).post(url, body), 422, "invalid_state")


def test_token_authentication(api, investigator_a, pada1):
    token, key = api_token_issue(user=investigator_a, label="test")
    assert ApiToken.objects.get().digest != key
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/patients/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert_error(client.get("/api/v1/patients/"), 401, "invalid_token")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert_error(client.get("/api/v1/patients/"), 401, "token_expired")
    token2, key2 = api_token_issue(user=investigator_a)
    api_token_revoke(token=token2)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key2}")
    assert_error(client.get("/api/v1/patients/"), 401, "token_revoked")


def test_anonymous_is_refused(api, pada1):
    assert_error(api().get("/api/v1/patients/"), 401, "not_authenticated")


def test_french_messages_follow_the_user_preference(api, site_a, pada1):
    from tests.conftest import make_user

    user = make_user("inv_fr", "investigator", [site_a], language="fr")
    body = assert_error(api(user).get("/api/v1/patients/999/"), 404, "not_found")
    assert body["message"] == "Introuvable."


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html


def test_an_oversized_body_is_refused_with_413(api, investigator_a, pada1, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = register(api(investigator_a), screening_number="S-1", padding="x" * 5000)
    assert_error(response, 413, "payload_too_large")
