"""Fixtures of ctDNA monitoring: laboratories with real tokens, enrolled patients, draws.

The clock is fixed (``ctdna_clock``) so that draws, analyses and enrolment have stable dates:
patients are enrolled on ENROLLED_ON and the tests run on TODAY.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from monitoring.services.labs import lab_register
from monitoring.services.samples import sample_record
from tests.trial import factories as f
from trial.services.accounts import api_token_issue

NOW = dt.datetime(2027, 6, 1, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
ENROLLED_ON = dt.date(2027, 1, 4)


@pytest.fixture
def ctdna_clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def lab_a(data_manager, site_a):
    return lab_register(by=data_manager, code="LAB-A", name="Laboratoire A", sites=[site_a])


@pytest.fixture
def lab_b(data_manager, site_b):
    return lab_register(by=data_manager, code="LAB-B", name="Laboratoire B", sites=[site_b])


def lab_client(lab, *, ttl_days: int | None = None) -> APIClient:
    """A client authenticated the way a lab is: ``Authorization: Token <key>``."""
    _token, key = api_token_issue(user=lab.service_user, label="test", ttl_days=ttl_days)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def client_a(lab_a, ctdna_clock):
    return lab_client(lab_a)


@pytest.fixture
def client_b(lab_b, ctdna_clock):
    return lab_client(lab_b)


@pytest.fixture
def patient_a(investigator_a, site_a, pada1, ctdna_clock):
    investigator_a.email = "inv_a@example.org"
    investigator_a.save()
    return f.enrolled(by=investigator_a, site=site_a, version=pada1, today=ENROLLED_ON)


@pytest.fixture
def patient_b(investigator_b, site_b, pada1, ctdna_clock):
    return f.enrolled(by=investigator_b, site=site_b, version=pada1, today=ENROLLED_ON)


def day(offset: int) -> dt.date:
    """A date ``offset`` days after enrolment."""
    return ENROLLED_ON + dt.timedelta(days=offset)


def draw(patient, sample_id: str, drawn_on: dt.date, by):
    return sample_record(
        by=by, patient=patient, sample_id=sample_id, drawn_on=drawn_on, today=TODAY
    )


def variant(change="p.D538G", vaf=0.0123, copies=14.0, gene="ESR1") -> dict:
    return {"gene": gene, "protein_change": change, "vaf": vaf, "copies_per_ml": copies}


def payload(
    sample,
    *,
    variants=(),
    analysed_after_days: int = 12,
    status: str = "reported",
    failure_reason: str | None = None,
    assay: str = "ddPCR",
    **overrides,
) -> dict:
    body = {
        "sample_id": sample.sample_id,
        "patient_id": sample.patient.trial_number,
        "collected_on": sample.drawn_on.isoformat(),
        "analysed_on": (sample.drawn_on + dt.timedelta(days=analysed_after_days)).isoformat(),
        "assay": assay,
        "status": status,
        "failure_reason": failure_reason,
        "variants": list(variants),
    }
    body.update(overrides)
    return body


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    return body


@pytest.fixture
def no_broker():
    """Record after-commit enqueues instead of sending them to the shared Redis."""
    from unittest import mock

    with mock.patch("monitoring.services.outbox._publish") as publish:
        yield publish


def ingest(lab, body, *, today=TODAY):
    """Post ``body`` through the ingestion service, as the JSON endpoint does."""
    import json as _json

    from monitoring.services.ingestion import ctdna_result_ingest, submission_record

    submission = submission_record(
        lab=lab, channel="json", media_type="application/json", body=_json.dumps(body).encode()
    )
    return ctdna_result_ingest(lab=lab, payload=body, submission=submission, today=today)
