"""Concurrent enrolments on PostgreSQL: trial numbers are unique and gapless per site."""

import contextlib
import threading

import pytest
from django.db import close_old_connections, connection

from tests.trial import factories as f
from trial.models import Patient
from trial.services import patients as svc

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 24


def test_concurrent_enrolments_get_unique_gapless_numbers(investigator_a, site_a, pada1, today):
    import datetime as dt

    patients = []
    for i in range(N):
        p = f.registered(by=investigator_a, site=site_a, version=pada1, today=today, number=f"C{i}")
        f.consented(by=investigator_a, patient=p, today=today)
        f.screened(by=investigator_a, patient=p, today=today)
        patients.append(p)
    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def worker(chunk):
        try:
            barrier.wait()
            for patient in chunk:
                # every patient twice: the second attempt must be refused, not renumbered
                for _ in range(2):
                    with contextlib.suppress(svc.AlreadyEnrolled):
                        svc.patient_enrol(
                            by=investigator_a,
                            patient=patient,
                            endocrine_drug="letrozole",
                            planned_c1d1=today + dt.timedelta(days=1),
                            today=today,
                        )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    chunks = [patients[i::8] + patients[(i + 1) % 8 :: 8] for i in range(8)]
    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    numbers = sorted(Patient.objects.values_list("trial_number", flat=True))
    assert numbers == [f"PADA1-FR01-{i:04d}" for i in range(1, N + 1)]
    assert all(p.lines.count() == 1 for p in Patient.objects.all())
