"""The lab API answers new results from memory: the same body as reading them back, and no
query to read them again (variants included)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.monitoring.conftest import day, draw, payload, variant

pytestmark = pytest.mark.django_db

URL = "/api/v1/ctdna/results/"


@pytest.fixture
def samples(patient_a, investigator_a):
    return [draw(patient_a, f"S-{n:03d}", day(42 * n), investigator_a) for n in range(3)]


def _detail(client, result_id):
    body = client.get(f"{URL}{result_id}/").json()
    return body


def test_a_new_result_is_answered_as_it_reads_back_without_reading_its_variants(client_a, samples):
    body = payload(samples[0], variants=[variant(), variant("p.Y537S", vaf=0.002)])
    with CaptureQueriesContext(connection) as queries:
        response = client_a.post(URL, body, format="json")
    assert response.status_code == 201
    assert not [q for q in queries if q["sql"].startswith("SELECT") and "ctdnavariant" in q["sql"]]
    answer = response.json()
    assert answer == _detail(client_a, answer["id"])
    assert [v["protein_change"] for v in answer["variants"]] == ["p.D538G", "p.Y537S"]


def test_a_batch_answers_new_and_replayed_results_as_they_read_back(client_a, samples):
    first = payload(samples[0], variants=[variant()])
    assert client_a.post(URL, first, format="json").status_code == 201
    items = [
        payload(samples[1], variants=[variant(vaf=0.0124)]),
        first,  # replay
        payload(samples[2], variants=[variant(), variant("p.E380Q", gene="ESR1")]),
    ]
    response = client_a.post(f"{URL}batch/", items, format="json")
    assert response.status_code == 200
    answers = response.json()["results"]
    assert [a["status"] for a in answers] == [201, 200, 201]
    for answer in answers:
        assert answer["result"] == _detail(client_a, answer["result"]["id"])
    assert (
        answers[2]["result"]["interpretation"]["compared_with_result_id"]
        == (answers[0]["result"]["id"])
    )
