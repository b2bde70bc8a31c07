"""Concurrent posts on PostgreSQL with real threads: one result per (lab, sample), each
interpretation sees the previous result, one Step 2 trigger per outbox row."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from django.db import connection

from monitoring.models import CtdnaResult, TriggerOutbox
from monitoring.services.ingestion import ctdna_result_ingest, submission_record
from monitoring.services.outbox import outbox_process
from tests.monitoring.conftest import TODAY, day, draw, ingest, payload, variant
from trial.exceptions import DomainError
from trial.models import Step2Trigger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def run_together(target, count=THREADS):
    """Run ``target(index)`` in ``count`` threads released at once; return their outcomes."""
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def worker(index):
        try:
            barrier.wait()
            outcomes[index] = target(index)
        except Exception as error:  # the outcome under test
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def post(lab, body):
    submission = submission_record(
        lab=lab, channel="json", media_type="application/json", body=json.dumps(body).encode()
    )
    return ctdna_result_ingest(lab=lab, payload=body, submission=submission, today=TODAY)


def test_concurrent_posts_of_one_sample_store_one_result(lab_a, patient_a, investigator_a):
    sample = draw(patient_a, "S-000", day(0), investigator_a)
    same = payload(sample, variants=[variant()])
    different = payload(sample, variants=[variant(vaf=0.5)])

    def target(index):
        outcome = post(lab_a, same if index % 2 == 0 else different)
        return "created" if outcome.created else "replayed"

    outcomes = run_together(target)
    kinds = Counter(o if isinstance(o, str) else o.code for o in outcomes)  # type: ignore[union-attr]
    assert kinds["created"] == 1
    assert kinds["created"] + kinds["replayed"] + kinds["sample_conflict"] == THREADS
    assert all(isinstance(o, str | DomainError) for o in outcomes)
    assert CtdnaResult.objects.count() == 1


def test_concurrent_results_of_one_patient_are_interpreted_in_turn(
    lab_a, patient_a, investigator_a
):
    samples = [draw(patient_a, f"S-{n}", day(10 * n), investigator_a) for n in range(THREADS)]
    ingest(lab_a, payload(samples[0]))

    def target(index):
        if index == 0:
            return None
        return post(lab_a, payload(samples[index], variants=[variant()])).result.pk

    outcomes = run_together(target)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    # The patient lock serialises ingestion, so ids follow the order results were stored in:
    # each result was compared with the latest draw stored before it, whatever the arrival.
    stored = list(CtdnaResult.objects.order_by("pk").prefetch_related("variants"))
    assert len(stored) == THREADS
    for index, result in enumerate(stored[1:], start=1):
        earlier = [r for r in stored[:index] if r.collected_on < result.collected_on]
        expected = max(earlier, key=lambda r: r.collected_on)
        assert result.compared_with_id == expected.pk
        rising = not expected.variants.all()
        assert result.patient_status == ("rising" if rising else "detected_stable")


def test_concurrent_processing_of_one_outbox_row_opens_one_trigger(
    lab_a, patient_a, investigator_a
):
    ingest(lab_a, payload(draw(patient_a, "S-0", day(0), investigator_a)))
    ingest(lab_a, payload(draw(patient_a, "S-1", day(42), investigator_a), variants=[variant()]))
    row = TriggerOutbox.objects.get()
    outcomes = run_together(lambda _index: outbox_process(outbox_id=row.pk).processed)
    assert sorted(outcomes) == [False] * (THREADS - 1) + [True]
    assert Step2Trigger.objects.count() == 1
    row.refresh_from_db()
    assert row.attempts == 1
