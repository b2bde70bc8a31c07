"""POST /api/v1/ctdna/results/: every field of the lab contract, every error code, replay and
conflict, the interpretation in the answer, and the lab's own reads."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import CtdnaResult, LabSubmission, Sample, TriggerOutbox
from tests.conftest import make_user
from tests.monitoring.conftest import (
    ENROLLED_ON,
    assert_error,
    day,
    draw,
    lab_client,
    payload,
    variant,
)
from trial.models import ApiToken, ProtocolVersion, Role
from trial.services.accounts import api_token_revoke

pytestmark = pytest.mark.django_db

URL = "/api/v1/ctdna/results/"


def post(client, body, **kwargs):
    return client.post(URL, body, format="json", **kwargs)


@pytest.fixture
def samples(patient_a, investigator_a):
    """Four draws of patient A: baseline, then every 6 weeks."""
    return [draw(patient_a, f"S-{n:03d}", day(42 * n), investigator_a) for n in range(4)]


# --- the contract and the answer ---------------------------------------------------------------


def test_a_first_result_is_stored_with_every_field_and_its_interpretation(client_a, samples):
    body = payload(samples[0], variants=[variant("p.D538G", 0.0123, 14.0)])
    r = post(client_a, body)
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["lab"] == "LAB-A"
    assert data["sample_id"] == "S-000"
    assert data["patient_id"] == "PADA1-FR01-0001"
    assert data["collected_on"] == body["collected_on"]
    assert data["analysed_on"] == body["analysed_on"]
    assert data["assay"] == "ddPCR"
    assert data["status"] == "reported"
    assert data["failure_reason"] is None
    assert data["variants"] == [
        {
            "gene": "ESR1",
            "protein_change": "p.D538G",
            "protein_change_reported": "p.D538G",
            "vaf": 0.0123,
            "copies_per_ml": 14.0,
            "in_panel": True,
            "change": "baseline",
            "previous_vaf": None,
            "previous_copies_per_ml": None,
            "reason": "First reported sample: there is no previous sample to compare with.",
        }
    ]
    interpretation = data["interpretation"]
    assert interpretation["patient_status"] == "detected_stable"
    assert interpretation["next_action"] == "none"
    assert interpretation["compared_with_result_id"] is None
    assert data["turnaround_days"] == 12
    assert data["version"] == 1 and data["amends"] is None and data["is_current"] is True
    sample = Sample.objects.get(sample_id="S-000")
    assert sample.turnaround_days == 12
    assert sample.first_result_on == samples[0].drawn_on + dt.timedelta(days=12)


@pytest.mark.parametrize("spelling", ["p.D538G", "D538G", "p.Asp538Gly", "p.(Asp538Gly)"])
def test_protein_changes_are_accepted_in_hgvs_spellings_and_stored_normalised(
    client_a, samples, spelling
):
    r = post(client_a, payload(samples[0], variants=[variant(spelling)]))
    assert r.status_code == 201, r.json()
    assert r.json()["variants"][0]["protein_change"] == "p.D538G"
    assert r.json()["variants"][0]["protein_change_reported"] == spelling


def test_the_assay_defaults_to_the_protocols(client_a, samples):
    body = payload(samples[0])
    del body["assay"]
    r = post(client_a, body)
    assert r.status_code == 201, r.json()
    assert r.json()["assay"] == "ddPCR"


def test_the_raw_body_is_kept_verbatim_with_its_sha256(client_a, samples):
    raw = (
        '{  "variants": [], "status": "reported", "sample_id": "S-000",\n'
        f'"patient_id": "PADA1-FR01-0001", "collected_on": "{samples[0].drawn_on}",'
        f'"analysed_on": "{day(10)}", "assay": "ddPCR", "failure_reason": null }}'
    ).encode()
    r = client_a.post(URL, raw, content_type="application/json")
    assert r.status_code == 201, r.json()
    submission = LabSubmission.objects.get(pk=r.json()["submission_id"])
    assert submission.body.encode() == raw
    assert submission.body_sha256 == hashlib.sha256(raw).hexdigest() == r.json()["raw_sha256"]
    assert submission.channel == "json" and submission.media_type == "application/json"
    result = CtdnaResult.objects.get(pk=r.json()["id"])
    assert result.payload == json.loads(raw)
    assert result.created_by == submission.created_by == result.lab.service_user


def test_the_result_is_attributed_to_the_labs_service_user(client_a, samples, lab_a):
    r = post(client_a, payload(samples[0]))
    result = CtdnaResult.objects.get(pk=r.json()["id"])
    assert result.history.get().history_user == lab_a.service_user
    assert result.created_by == lab_a.service_user


# --- interpretation ---------------------------------------------------------------------------


def _post_series(client, samples, *series):
    answers = []
    for sample, variants in zip(samples, series, strict=False):
        r = post(client, payload(sample, variants=variants))
        assert r.status_code == 201, r.json()
        answers.append(r.json())
    return answers


def test_a_mutation_absent_before_is_new_and_makes_the_patient_rising(
    client_a, samples, django_capture_on_commit_callbacks, no_broker
):
    post(client_a, payload(samples[0]))
    with django_capture_on_commit_callbacks() as callbacks:
        r = post(client_a, payload(samples[1], variants=[variant()]))
    data = r.json()
    assert data["variants"][0]["change"] == "new"
    assert data["interpretation"]["patient_status"] == "rising"
    assert data["interpretation"]["next_action"] == "imaging_required"
    outbox = TriggerOutbox.objects.get(result_id=data["id"])
    assert outbox.processed_at is None
    no_broker.assert_not_called()
    for callback in callbacks:
        callback()
    no_broker.assert_called_once_with(outbox.pk)


@pytest.mark.parametrize(
    ("before", "after", "change", "status"),
    [
        (variant(vaf=0.005, copies=7.0), variant(vaf=0.005, copies=14.0), "increased", "rising"),
        (
            variant(vaf=0.005, copies=7.0),
            variant(vaf=0.006, copies=8.0),
            "stable",
            "detected_stable",
        ),
        (
            variant(vaf=0.01, copies=14.0),
            variant(vaf=0.004, copies=6.0),
            "decreased",
            "detected_stable",
        ),
    ],
)
def test_a_mutation_present_before_is_increased_stable_or_decreased(
    client_a, samples, before, after, change, status
):
    _first, second = _post_series(client_a, samples, [before], [after])
    assert second["variants"][0]["change"] == change
    assert second["variants"][0]["previous_copies_per_ml"] == before["copies_per_ml"]
    assert second["interpretation"]["patient_status"] == status
    assert second["interpretation"]["compared_with_result_id"] == _first["id"]
    assert TriggerOutbox.objects.filter(result_id=second["id"]).exists() == (status == "rising")


def test_an_off_panel_variant_is_stored_and_flagged_and_never_rising(client_a, samples):
    _first, second = _post_series(client_a, samples, [], [variant("p.S463P", 0.02, 20.0)])
    assert second["variants"][0]["in_panel"] is False
    assert second["variants"][0]["change"] == "new"
    assert second["interpretation"]["off_panel"] == ["p.S463P"]
    assert second["interpretation"]["patient_status"] == "not_detected"
    assert not TriggerOutbox.objects.exists()


def test_a_failed_sample_asks_for_a_redraw_and_keeps_the_status(
    client_a, samples, django_capture_on_commit_callbacks
):
    first = post(client_a, payload(samples[0], variants=[variant()])).json()
    failed = payload(samples[1], status="failed", failure_reason="insufficient cfDNA")
    with django_capture_on_commit_callbacks(execute=True):
        r = post(client_a, failed)
    data = r.json()
    assert r.status_code == 201, data
    assert data["failure_reason"] == "insufficient cfDNA"
    assert data["interpretation"]["next_action"] == "redraw_requested"
    assert data["interpretation"]["patient_status"] == "detected_stable"
    assert len(mail.outbox) == 1 and "inv_a@example.org" in mail.outbox[0].to
    assert "S-001" in mail.outbox[0].subject
    third = post(client_a, payload(samples[2], variants=[variant()])).json()
    assert third["interpretation"]["compared_with_result_id"] == first["id"]
    assert third["variants"][0]["change"] == "stable", "the failed sample is skipped"


def test_the_previous_result_is_chosen_by_collection_date_not_arrival(client_a, samples):
    late = post(client_a, payload(samples[2], variants=[variant()])).json()
    early = post(client_a, payload(samples[0])).json()
    middle = post(client_a, payload(samples[1])).json()
    assert late["variants"][0]["change"] == "baseline"
    assert early["interpretation"]["compared_with_result_id"] is None
    assert middle["interpretation"]["compared_with_result_id"] == early["id"]


def test_no_longer_detected_mutations_are_listed(client_a, samples):
    _first, second = _post_series(client_a, samples, [variant("p.Y537S")], [])
    assert second["interpretation"]["no_longer_detected"] == ["p.Y537S"]
    assert second["interpretation"]["patient_status"] == "not_detected"


# --- idempotency ------------------------------------------------------------------------------


def test_an_identical_replay_returns_the_stored_result_with_200(client_a, samples):
    body = payload(samples[0], variants=[variant("p.D538G", 0.0123, 14)])
    first = post(client_a, body)
    assert first.status_code == 201
    reordered = dict(reversed(list(body.items())))
    reordered["variants"] = [variant("p.Asp538Gly", 0.0123, 14.0)]
    again = post(client_a, reordered)
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == first.json()["id"]
    assert CtdnaResult.objects.count() == 1
    assert LabSubmission.objects.count() == 2, "every request body is kept"


def test_a_different_payload_for_the_same_sample_is_a_conflict(client_a, samples):
    post(client_a, payload(samples[0], variants=[variant(vaf=0.01)]))
    r = post(client_a, payload(samples[0], variants=[variant(vaf=0.02)]))
    body = assert_error(r, 409, "sample_conflict")
    assert body["details"]["sample_id"] == "S-000"
    assert CtdnaResult.objects.count() == 1


def test_two_labs_may_each_report_a_sample_of_a_site_they_both_serve(
    client_a, lab_b, site_a, samples
):
    lab_b.sites.add(site_a)
    client = lab_client(lab_b)
    assert post(client_a, payload(samples[0])).status_code == 201
    assert post(client, payload(samples[0])).status_code == 201


# --- validation: every code, with its field ---------------------------------------------------


def _mutate(body, path, value):
    target = body
    *parents, last = path
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return body


_DELETE = object()

VALIDATION_CASES = [
    # (path, value, status, code, field)
    (("sample_id",), _DELETE, 400, "required", "sample_id"),
    (("patient_id",), None, 400, "required", "patient_id"),
    (("status",), _DELETE, 400, "required", "status"),
    (("collected_on",), _DELETE, 400, "required", "collected_on"),
    (("comment",), "hello", 400, "unknown_field", "comment"),
    (("variants", 0, "depth"), 1000, 400, "unknown_field", "variants[0].depth"),
    (("sample_id",), 123, 400, "invalid_type", "sample_id"),
    (("sample_id",), "S 000/bad", 400, "invalid_format", "sample_id"),
    (("assay",), "x" * 33, 400, "invalid_format", "assay"),
    (("status",), "pending", 400, "invalid_status", "status"),
    (("collected_on",), "02/03/2027", 400, "invalid_date", "collected_on"),
    (("analysed_on",), "2027-02-30", 400, "invalid_date", "analysed_on"),
    (("analysed_on",), "2027-06-02", 422, "date_in_future", "analysed_on"),
    (("analysed_on",), "2027-01-03", 422, "analysed_before_collected", "analysed_on"),
    (("failure_reason",), "hemolysed", 400, "failure_reason_not_allowed", "failure_reason"),
    (("variants",), None, 400, "invalid_variants", "variants"),
    (("variants",), {"gene": "ESR1"}, 400, "invalid_variants", "variants"),
    (("variants", 0), "p.D538G", 400, "invalid_variants", "variants[0]"),
    (("variants", 0, "gene"), "PIK3CA", 400, "gene_not_supported", "variants[0].gene"),
    (
        ("variants", 0, "protein_change"),
        "c.1613A>G",
        400,
        "invalid_hgvs",
        "variants[0].protein_change",
    ),
    (
        ("variants", 0, "protein_change"),
        "p.Asp538del",
        400,
        "invalid_hgvs",
        "variants[0].protein_change",
    ),
    (("variants", 0, "vaf"), 1.5, 400, "vaf_out_of_range", "variants[0].vaf"),
    (("variants", 0, "vaf"), -0.01, 400, "vaf_out_of_range", "variants[0].vaf"),
    (("variants", 0, "vaf"), "0.01", 400, "vaf_out_of_range", "variants[0].vaf"),
    (("variants", 0, "copies_per_ml"), -1, 400, "negative_copies", "variants[0].copies_per_ml"),
]


@pytest.mark.parametrize(("path", "value", "status", "code", "field"), VALIDATION_CASES)
def test_each_invalid_field_is_refused_with_its_code_and_field(
    client_a, samples, path, value, status, code, field
):
    body = _mutate(payload(samples[0], variants=[variant()]), path, value)
    r = post(client_a, body)
    error = assert_error(r, status, code)
    assert error["details"]["field"] == field
    assert {"field": field, "code": code} in [
        {"field": p["field"], "code": p["code"]} for p in error["details"]["problems"]
    ]
    assert not CtdnaResult.objects.exists()


def test_a_body_that_is_not_an_object_is_refused(client_a, samples):
    assert_error(post(client_a, [payload(samples[0])]), 400, "invalid_type")


def test_a_variant_without_any_measurement_is_refused(client_a, samples):
    body = payload(samples[0], variants=[{"gene": "ESR1", "protein_change": "p.D538G"}])
    error = assert_error(post(client_a, body), 400, "missing_measurement")
    assert error["details"]["field"] == "variants[0]"


def test_the_same_change_twice_is_refused(client_a, samples):
    body = payload(samples[0], variants=[variant("p.D538G"), variant("p.Asp538Gly")])
    error = assert_error(post(client_a, body), 400, "duplicate_variant")
    assert error["details"]["field"] == "variants[1].protein_change"


def test_a_failed_sample_needs_a_reason_and_no_variants(client_a, samples):
    no_reason = payload(samples[0], status="failed")
    assert_error(post(client_a, no_reason), 400, "failure_reason_required")
    with_variants = payload(
        samples[0], status="failed", failure_reason="low input", variants=[variant()]
    )
    assert_error(post(client_a, with_variants), 400, "failed_with_variants")


def test_every_problem_is_listed(client_a, samples):
    body = payload(samples[0], variants=[variant(vaf=2.0, copies=-3.0)], status="bogus")
    error = assert_error(post(client_a, body), 400, "invalid_status")
    codes = [p["code"] for p in error["details"]["problems"]]
    assert codes == ["invalid_status", "vaf_out_of_range", "negative_copies"]


def test_malformed_json_is_a_parse_error(client_a, samples):
    r = client_a.post(URL, b'{"sample_id": ', content_type="application/json")
    assert_error(r, 400, "parse_error")
    assert LabSubmission.objects.get().body == '{"sample_id": '


def test_an_unknown_patient_is_422(client_a, samples):
    body = payload(samples[0], patient_id="PADA1-FR01-9999")
    assert assert_error(post(client_a, body), 422, "unknown_patient")["details"]["field"] == (
        "patient_id"
    )


def test_an_unknown_sample_is_422(client_a, samples):
    body = payload(samples[0], sample_id="S-404")
    assert assert_error(post(client_a, body), 422, "unknown_sample")["details"]["field"] == (
        "sample_id"
    )


def test_a_sample_of_another_patient_is_refused(client_a, samples, investigator_a, site_a, pada1):
    from tests.trial import factories as f

    other = f.enrolled(
        by=investigator_a, site=site_a, version=pada1, today=ENROLLED_ON, number="S2"
    )
    body = payload(samples[0], patient_id=other.trial_number)
    assert_error(post(client_a, body), 422, "sample_patient_mismatch")


def test_a_collection_date_other_than_the_recorded_draw_is_refused(client_a, samples):
    body = payload(samples[1], collected_on=day(43).isoformat())
    error = assert_error(post(client_a, body), 422, "collected_on_mismatch")
    assert error["details"] == {"field": "collected_on", "drawn_on": day(42).isoformat()}


def test_a_draw_before_enrolment_is_refused(client_a, samples):
    body = payload(samples[0], collected_on=(ENROLLED_ON - dt.timedelta(days=1)).isoformat())
    error = assert_error(post(client_a, body), 422, "collected_before_enrolment")
    assert error["details"]["field"] == "collected_on"


def test_a_patient_whose_protocol_has_no_ctdna_monitoring_is_refused(client_a, samples, patient_a):
    version = patient_a.protocol_version
    document = {k: v for k, v in version.document.items() if k != "ctdna"}
    ProtocolVersion.objects.filter(pk=version.pk).update(document=document)
    assert_error(post(client_a, payload(samples[0])), 422, "ctdna_not_monitored")


# --- who may post -----------------------------------------------------------------------------


def test_a_lab_posting_for_a_site_it_does_not_serve_is_403(client_b, samples):
    error = assert_error(post(client_b, payload(samples[0])), 403, "site_not_served")
    assert error["details"]["field"] == "patient_id"
    assert not CtdnaResult.objects.exists()


def test_an_expired_token_is_refused(lab_a, samples, ctdna_clock):
    client = lab_client(lab_a, ttl_days=1)
    ctdna_clock.shift(dt.timedelta(days=2))
    assert_error(post(client, payload(samples[0])), 401, "token_expired")


def test_a_revoked_token_is_refused(lab_a, samples):
    client = lab_client(lab_a)
    api_token_revoke(token=ApiToken.objects.get(user=lab_a.service_user))
    assert_error(post(client, payload(samples[0])), 401, "token_revoked")


def test_no_or_a_wrong_token_is_refused(api, samples, ctdna_clock):
    assert_error(post(api(), payload(samples[0])), 401, "not_authenticated")
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_error(post(client, payload(samples[0])), 401, "invalid_token")


@pytest.mark.parametrize("persona", ["investigator_a", "coordinator_a", "sponsor", "data_manager"])
def test_people_cannot_post_lab_results(api, samples, persona, request):
    client = api(request.getfixturevalue(persona))
    assert_error(post(client, payload(samples[0])), 403, "permission_denied")
    assert_error(client.get(URL), 403, "permission_denied")


def test_a_lab_account_without_a_laboratory_is_refused(api, samples, ctdna_clock):
    orphan = make_user("lab-orphan", Role.LAB)
    assert_error(post(api(orphan), payload(samples[0])), 403, "lab_not_configured")


def test_requests_are_rate_limited_per_lab(client_a, lab_a, samples, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"lab": "3/min", "user": "1000/min"},
    }
    second_token = lab_client(lab_a)
    assert client_a.get(URL).status_code == 200
    assert second_token.get(URL).status_code == 200
    assert post(client_a, payload(samples[0])).status_code == 201
    r = post(second_token, payload(samples[1]))
    assert_error(r, 429, "rate_limited")
    assert int(r["Retry-After"]) > 0
    assert not CtdnaResult.objects.filter(sample__sample_id="S-001").exists()


# --- reading back -----------------------------------------------------------------------------


def test_a_lab_reads_back_only_its_own_results(client_a, client_b, samples, lab_b, site_a):
    lab_b.sites.add(site_a)
    mine = post(client_a, payload(samples[0])).json()
    theirs = post(client_b, payload(samples[1])).json()
    listed = client_a.get(URL).json()
    assert [r["id"] for r in listed["results"]] == [mine["id"]]
    assert client_a.get(f"{URL}{mine['id']}/").json()["id"] == mine["id"]
    assert_error(client_a.get(f"{URL}{theirs['id']}/"), 404, "not_found")


def test_results_are_filtered_by_sample_and_patient(client_a, samples):
    _post_series(client_a, samples, [], [])
    assert client_a.get(URL, {"sample_id": "S-001"}).json()["count"] == 1
    assert client_a.get(URL, {"patient_id": "PADA1-FR01-0001"}).json()["count"] == 2
    assert client_a.get(URL, {"patient_id": "PADA1-FR01-0002"}).json()["count"] == 0


def test_the_result_list_costs_the_same_queries_for_one_or_many_rows(client_a, samples):
    post(client_a, payload(samples[0], variants=[variant()]))
    with CaptureQueriesContext(connection) as one:
        assert client_a.get(URL).status_code == 200
    for sample in samples[1:]:
        post(client_a, payload(sample, variants=[variant(), variant("p.Y537S")]))
    with CaptureQueriesContext(connection) as many:
        assert client_a.get(URL).json()["count"] == 4
    assert len(many) == len(one)
