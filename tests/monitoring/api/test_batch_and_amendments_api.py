"""The batch endpoint (answers per item) and amendments (new versions keeping the original)."""

from __future__ import annotations

import pytest
from django.core import mail

from monitoring.models import CtdnaResult, LabSubmission, TriggerOutbox
from tests.monitoring.conftest import assert_error, day, draw, payload, variant

pytestmark = pytest.mark.django_db

RESULTS = "/api/v1/ctdna/results/"
BATCH = "/api/v1/ctdna/results/batch/"


@pytest.fixture
def samples(patient_a, investigator_a):
    return [draw(patient_a, f"S-{n:03d}", day(42 * n), investigator_a) for n in range(4)]


def amend(client, result_id, result, reason="VAF transcription error"):
    return client.post(
        f"{RESULTS}{result_id}/amendments/", {"reason": reason, "result": result}, format="json"
    )


# --- batch ------------------------------------------------------------------------------------


def test_a_batch_with_mixed_items_answers_each_item(client_a, samples):
    replayed = payload(samples[0])
    assert client_a.post(RESULTS, replayed, format="json").status_code == 201
    items = [
        replayed,  # identical replay
        payload(samples[1], variants=[variant()]),  # new, rising
        payload(samples[2], variants=[variant(vaf=3.0)]),  # invalid value
        payload(samples[3], sample_id="S-404"),  # unknown sample
        "not an object",
        payload(samples[0], variants=[variant()]),  # conflict with the stored result
    ]
    r = client_a.post(BATCH, items, format="json")
    assert r.status_code == 200, r.json()
    data = r.json()
    assert (data["created"], data["replayed"], data["failed"]) == (1, 1, 4)
    answers = data["results"]
    assert [a["index"] for a in answers] == list(range(6))
    assert [a["status"] for a in answers] == [200, 201, 400, 422, 400, 409]
    assert answers[0]["result"]["sample_id"] == "S-000"
    assert answers[1]["result"]["interpretation"]["patient_status"] == "rising"
    assert answers[1]["result"]["entry_indexes"] == [1]
    assert answers[2]["error"]["code"] == "vaf_out_of_range"
    assert answers[2]["error"]["details"]["field"] == "variants[0].vaf"
    assert answers[3]["error"]["code"] == "unknown_sample"
    assert answers[4]["error"]["code"] == "invalid_type"
    assert answers[5]["error"]["code"] == "sample_conflict"
    assert CtdnaResult.objects.count() == 2
    assert TriggerOutbox.objects.count() == 1
    stored = CtdnaResult.objects.get(pk=answers[1]["result"]["id"])
    assert stored.submission.channel == "batch"
    assert stored.submission.body == r.wsgi_request.body.decode()


@pytest.mark.parametrize("body", [{"sample_id": "S-000"}, [], "text"])
def test_a_batch_must_be_a_non_empty_list(client_a, samples, body):
    assert_error(client_a.post(BATCH, body, format="json"), 400, "invalid_batch")


def test_a_batch_has_at_most_500_items(client_a, samples):
    items = [payload(samples[0])] * 501
    assert_error(client_a.post(BATCH, items, format="json"), 400, "invalid_batch")
    assert not CtdnaResult.objects.exists()


def test_a_batch_for_an_unserved_site_fails_item_by_item(client_b, samples):
    r = client_b.post(BATCH, [payload(samples[0])], format="json")
    assert r.status_code == 200
    assert r.json()["results"][0]["status"] == 403
    assert r.json()["results"][0]["error"]["code"] == "site_not_served"


def test_people_cannot_post_batches(api, sponsor, samples):
    assert_error(
        api(sponsor).post(BATCH, [payload(samples[0])], format="json"), 403, "permission_denied"
    )


# --- amendments -------------------------------------------------------------------------------


def test_an_amendment_is_a_new_version_and_keeps_the_original(client_a, samples):
    first = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    original = client_a.post(
        RESULTS, payload(samples[1], variants=[variant(vaf=0.123)]), format="json"
    ).json()
    corrected = payload(samples[1], variants=[variant(vaf=0.0123)])
    r = amend(client_a, original["id"], corrected)
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["version"] == 2
    assert data["amends"] == original["id"]
    assert data["amendment_reason"] == "VAF transcription error"
    assert data["variants"][0]["vaf"] == 0.0123
    assert data["interpretation"]["compared_with_result_id"] == first["id"]
    stored = client_a.get(f"{RESULTS}{original['id']}/").json()
    assert stored["variants"][0]["vaf"] == 0.123
    assert stored["is_current"] is False and data["is_current"] is True
    assert LabSubmission.objects.get(pk=data["submission_id"]).channel == "amendment"


def test_the_next_result_compares_with_the_amended_version(client_a, samples):
    original = client_a.post(
        RESULTS, payload(samples[0], variants=[variant(copies=50.0, vaf=0.05)]), format="json"
    ).json()
    amended = amend(client_a, original["id"], payload(samples[0], variants=[variant()])).json()
    later = client_a.post(
        RESULTS, payload(samples[1], variants=[variant(copies=30.0, vaf=0.03)]), format="json"
    ).json()
    assert later["interpretation"]["compared_with_result_id"] == amended["id"]
    assert later["variants"][0]["change"] == "increased"


def test_a_further_amendment_points_at_the_original(client_a, samples):
    original = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    second = amend(client_a, original["id"], payload(samples[0], variants=[variant()])).json()
    third = amend(
        client_a, second["id"], payload(samples[0], variants=[variant(vaf=0.02)]), reason="re-run"
    ).json()
    assert (third["version"], third["amends"]) == (3, original["id"])


def test_replaying_an_amendment_returns_it(client_a, samples):
    original = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    corrected = payload(samples[0], variants=[variant()])
    first = amend(client_a, original["id"], corrected)
    again = amend(client_a, original["id"], corrected)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert CtdnaResult.objects.count() == 2


def test_amending_a_superseded_version_otherwise_is_a_conflict(client_a, samples):
    original = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    second = amend(client_a, original["id"], payload(samples[0], variants=[variant()])).json()
    r = amend(client_a, original["id"], payload(samples[0], variants=[variant(vaf=0.5)]))
    assert assert_error(r, 409, "result_superseded")["details"] == {
        "current_result_id": second["id"]
    }


def test_an_amendment_must_change_something_and_keep_the_sample(client_a, samples, patient_a):
    original = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    assert_error(amend(client_a, original["id"], payload(samples[0])), 422, "amendment_unchanged")
    other_sample = payload(samples[1])
    assert_error(amend(client_a, original["id"], other_sample), 422, "amendment_mismatch")


def test_an_amendment_needs_a_reason(client_a, samples):
    original = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    corrected = payload(samples[0], variants=[variant()])
    assert_error(amend(client_a, original["id"], corrected, reason="  "), 400, "reason_required")
    r = client_a.post(
        f"{RESULTS}{original['id']}/amendments/", {"result": corrected}, format="json"
    )
    assert assert_error(r, 400, "validation_error")["details"]["fields"]["reason"]


def test_an_amendment_is_validated_like_a_result(client_a, samples):
    original = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    bad = payload(samples[0], variants=[variant(change="p.Asp538fs")])
    assert_error(amend(client_a, original["id"], bad), 400, "invalid_hgvs")


def test_another_labs_result_cannot_be_amended(client_a, lab_b, site_a, samples):
    from tests.monitoring.conftest import lab_client

    lab_b.sites.add(site_a)
    original = client_a.post(RESULTS, payload(samples[0]), format="json").json()
    r = amend(lab_client(lab_b), original["id"], payload(samples[0], variants=[variant()]))
    assert_error(r, 404, "not_found")


def test_an_amendment_that_turns_rising_opens_the_outbox(client_a, samples):
    client_a.post(RESULTS, payload(samples[0]), format="json")
    original = client_a.post(RESULTS, payload(samples[1]), format="json").json()
    amended = amend(client_a, original["id"], payload(samples[1], variants=[variant()])).json()
    assert amended["interpretation"]["patient_status"] == "rising"
    assert TriggerOutbox.objects.filter(result_id=amended["id"]).exists()


def test_an_amendment_that_withdraws_a_rising_result_alerts_the_site(
    client_a, samples, django_capture_on_commit_callbacks
):
    client_a.post(RESULTS, payload(samples[0]), format="json")
    rising = client_a.post(RESULTS, payload(samples[1], variants=[variant()]), format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        amended = amend(client_a, rising["id"], payload(samples[1]), reason="contamination").json()
    assert amended["interpretation"]["patient_status"] == "not_detected"
    assert len(mail.outbox) == 1 and "no longer rising" in mail.outbox[0].subject
    assert "contamination" in mail.outbox[0].body
