"""A request's results are read and written set-wise: the queries of a batch do not grow with
its size, and each item is still interpreted, attributed and audited as if posted alone."""

from __future__ import annotations

import json

import pytest

from monitoring.models import CtdnaResult, CtdnaVariant, Sample, TriggerOutbox
from monitoring.services.ingestion import ctdna_results_ingest_batch, submission_record
from tests.monitoring.conftest import ENROLLED_ON, TODAY, day, draw, ingest, payload, variant
from tests.trial import factories as f
from trial.exceptions import DomainError
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db

#: Every query of a batch, whatever the number of items: the submission (with its savepoint);
#: then patients (locked, with their protocol's ctDNA block and whether the lab serves their
#: site), samples, the patients' results in
#: brief, previous variants, the lab's stored versions; one INSERT per table (results, variants,
#: their history rows, audit events, outbox rows), the samples' turnaround (UPDATE and history
#: rows), the site staff's e-mails for redraw requests, and the transaction's savepoint.
MAX_QUERIES_PER_BATCH = 19


def post_batch(lab, items):
    submission = submission_record(
        lab=lab, channel="batch", media_type="application/json", body=json.dumps(items).encode()
    )
    return ctdna_results_ingest_batch(lab=lab, items=items, submission=submission, today=TODAY)


@pytest.fixture
def patients(investigator_a, site_a, pada1, ctdna_clock):
    return [
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=ENROLLED_ON, number=f"S{n}")
        for n in range(8)
    ]


def _workload(lab, patients, investigator, count):
    """``count`` patients, each with a stored baseline (with a variant for odd ones) and, in
    the batch, a rising, stable or failed follow-up, a replay of the baseline and an error."""
    items = []
    for n, patient in enumerate(patients[:count]):
        baseline = draw(patient, f"B-{n}", day(0), investigator)
        first = payload(baseline, variants=[variant()] if n % 2 else [])
        ingest(lab, first)
        follow_up = draw(patient, f"F-{n}", day(42), investigator)
        kind = n % 3
        if kind == 0:
            items.append(payload(follow_up, variants=[variant()]))  # new: rising
        elif kind == 1:
            items.append(payload(follow_up, status="failed", failure_reason="haemolysed"))
        else:
            items.append(payload(follow_up, variants=[variant(vaf=0.0124)]))
        items.append(first)  # identical replay
        items.append(payload(baseline, sample_id="S-404"))  # unknown sample
    return items


@pytest.mark.parametrize("count", [1, 8])
def test_a_batch_costs_the_same_queries_for_one_patient_or_many(
    lab_a, patients, investigator_a, count, django_assert_max_num_queries, no_broker
):
    items = _workload(lab_a, patients, investigator_a, count)
    with django_assert_max_num_queries(MAX_QUERIES_PER_BATCH):
        outcomes = post_batch(lab_a, items)
    assert [type(o).__name__ for o in outcomes[:3]] == ["IngestOutcome"] * 2 + ["UnknownSample"]
    assert CtdnaResult.objects.count() == 2 * count


def test_results_of_one_patient_in_one_batch_are_interpreted_in_order(
    lab_a, patient_a, investigator_a, django_capture_on_commit_callbacks, no_broker
):
    samples = [draw(patient_a, f"S-{n}", day(42 * n), investigator_a) for n in range(4)]
    items = [
        payload(samples[2], variants=[variant(vaf=0.0124)]),
        payload(samples[0]),
        payload(samples[1], variants=[variant()]),
        payload(samples[3], status="failed", failure_reason="haemolysed"),
        payload(samples[1], variants=[variant()]),  # replay of an item of this batch
        payload(samples[1], variants=[variant(vaf=0.5)]),  # conflict with it
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        outcomes = post_batch(lab_a, items)
    late, baseline, rising, failed, replay, conflict = outcomes
    assert isinstance(conflict, DomainError) and conflict.code == "sample_conflict"
    assert (replay.created, replay.result.pk) == (False, rising.result.pk)
    # Each item sees the items before it, as if posted one by one in this order.
    assert late.result.compared_with_id is None  # nothing stored before it
    assert baseline.result.compared_with_id is None
    assert (rising.result.compared_with_id, rising.result.patient_status) == (
        baseline.result.pk,
        "rising",
    )
    # A failed sample keeps the status of the latest earlier draw (S-2, posted first).
    assert (failed.result.patient_status, failed.result.next_action) == (
        "detected_stable",
        "redraw_requested",
    )
    assert TriggerOutbox.objects.get().result_id == rising.result.pk
    assert len(callbacks) == 2  # the outbox row's enqueue and the redraw request
    stored = CtdnaResult.objects.get(pk=rising.result.pk)
    assert stored.created_by == lab_a.service_user
    assert stored.history.get().history_user == lab_a.service_user
    assert CtdnaVariant.objects.get(result=stored).history.count() == 1
    events = AuditEvent.objects.filter(action="ctdna_result_received")
    assert sorted(int(e.object_id) for e in events) == sorted(
        o.result.pk for o in (late, baseline, rising, failed)
    )
    assert {e.actor for e in events} == {lab_a.service_user}
    sample = Sample.objects.get(pk=samples[1].pk)
    assert sample.first_result_on == day(42 + 12)
    assert sample.history.first().history_change_reason == "first ctDNA result received"
