"""Concurrent randomization on PostgreSQL: 32 clients, thousands of attempts.

Each client has its own database connection and sends, in its own shuffled order, repeats of
the same patient under the same key, fresh keys for already randomized patients, other
patients' keys, and requests for another site's patients. Afterwards: exactly one allocation
per patient, every stratum's list consumed in order with no gap, every reply consistent with
the stored allocation, and no answer other than the expected refusals.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from randomization.models import Allocation, ListEntry, MinimizationDraw, StratumCursor
from randomization.rules.minimization import minimize
from randomization.services.designs import design_generate
from randomization.services.lifecycle import design_activate
from tests.conftest import PASSWORD
from tests.randomization import factories as rf
from trial.models import AuditEvent, Step2Trigger, TriggerStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENTS = 32
ATTEMPTS_PER_CLIENT = 64
PATIENTS_PER_SITE = 40
STRATA = [
    {"visceral_metastases": v, "time_on_step1": t}
    for v in ("yes", "no")
    for t in ("lt_12_months", "ge_12_months")
]
EXPECTED = {
    (200, None),
    (409, "already_randomized"),
    (409, "idempotency_key_reused"),
    (404, "not_found"),
}


def _plan(client_index, patients):
    """This client's attempts: (patient, key, as_other_site)."""
    rng = random.Random(client_index)
    attempts = []
    for n in range(ATTEMPTS_PER_CLIENT):
        patient = rng.choice(patients)
        kind = rng.random()
        if kind < 0.5:
            attempts.append((patient, f"p{patient.pk}", False))  # the patient's own key, repeated
        elif kind < 0.75:
            attempts.append((patient, f"c{client_index}-{n}", False))  # a fresh key
        elif kind < 0.9:
            other = rng.choice(patients)
            attempts.append((patient, f"p{other.pk}", False))  # another patient's key
        else:
            attempts.append((patient, f"x{client_index}-{n}", True))  # from the other site
    # every patient gets at least one fresh key from some client, so each ends up randomized
    attempts += [(p, f"f{client_index}-{p.pk}", False) for p in patients[client_index::CLIENTS]]
    rng.shuffle(attempts)
    return attempts


def test_thousands_of_concurrent_attempts_allocate_each_patient_once_in_list_order(
    investigator_a, investigator_b, site_a, site_b, pada1, today, statistician
):
    design = rf.active_design(statistician=statistician, version=pada1, length=64)
    patients = []
    for site, investigator in ((site_a, investigator_a), (site_b, investigator_b)):
        for i in range(PATIENTS_PER_SITE):
            patients.append(
                rf.randomizable(
                    by=investigator,
                    site=site,
                    version=pada1,
                    today=today,
                    number=f"C{i:03d}",
                    stratification=STRATA[i % len(STRATA)],
                )
            )
    investigator_of = {site_a.pk: investigator_a.pk, site_b.pk: investigator_b.pk}
    outcomes: list[tuple[int, str, int, str | None, dict]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client_run(index):
        users = {pk: get_user_model().objects.get(pk=pk) for pk in investigator_of.values()}
        clients = {}
        for pk, user in users.items():
            clients[pk] = APIClient()
            clients[pk].force_authenticate(user)
        mine = []
        try:
            plan = _plan(index, patients)
            barrier.wait()
            for patient, key, from_other_site in plan:
                own = investigator_of[patient.site_id]
                actor = next(pk for pk in users if pk != own) if from_other_site else own
                response = clients[actor].post(
                    f"/api/v1/patients/{patient.pk}/randomize/",
                    {"password": PASSWORD},
                    HTTP_IDEMPOTENCY_KEY=key,
                )
                body = response.json()
                code = None if response.status_code == 200 else body.get("code")
                mine.append((patient.pk, key, response.status_code, code, body))
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            with lock:
                outcomes.extend(mine)
            connection.close()

    threads = [threading.Thread(target=client_run, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(outcomes) == CLIENTS * ATTEMPTS_PER_CLIENT + len(patients) > 2000
    answers = Counter((status, code) for _, _, status, code, _ in outcomes)
    assert set(answers) <= EXPECTED, answers
    assert answers[(200, None)] > len(patients)  # replays answered 200 too

    allocations = {a.patient_id: a for a in Allocation.objects.all()}
    assert sorted(allocations) == sorted(p.pk for p in patients)
    replies_by_key: dict[str, list[dict]] = defaultdict(list)
    for patient_id, key, status, _, body in outcomes:
        if status == 200:
            allocation = allocations[patient_id]
            assert (body["patient"], body["arm"], body["sequence_number"]) == (
                patient_id,
                allocation.arm,
                allocation.sequence_number,
            )
            assert body["idempotency_key"] == key == allocation.idempotency_key
            replies_by_key[key].append(body)
    assert all(all(r == replies[0] for r in replies) for replies in replies_by_key.values())

    entries = {
        (e.stratum, e.sequence_number): e.arm for e in ListEntry.objects.filter(design=design)
    }
    by_stratum: dict[str, list[Allocation]] = defaultdict(list)
    for allocation in sorted(allocations.values(), key=lambda a: a.pk):
        by_stratum[allocation.stratum].append(allocation)
    assert len(by_stratum) == len(STRATA)
    for stratum, taken in by_stratum.items():
        # insertion order is sequence order: the list was consumed in order, without gaps
        assert [a.sequence_number for a in taken] == list(range(1, len(taken) + 1))
        assert all(a.arm == entries[(stratum, a.sequence_number)] for a in taken)
        assert StratumCursor.objects.get(design=design, stratum=stratum).allocated == len(taken)
        # so the stratum's imbalance never exceeds half the largest block (6 / 2)
        running = 0
        for allocation in taken:
            running += 1 if allocation.arm == "A" else -1
            assert abs(running) <= max(design.block_sizes) // 2
    assert AuditEvent.objects.filter(action="patient_randomized").count() == len(patients)
    assert set(Step2Trigger.objects.values_list("status", flat=True)) == {TriggerStatus.RANDOMIZED}
    for patient in patients:
        patient.refresh_from_db()
        arm = allocations[patient.pk].arm
        assert patient.step == f"step2_arm_{arm.lower()}"
        assert patient.lines.count() == (2 if arm == "B" else 1)
        assert patient.lines.filter(ended_on=None).count() == 1


def test_concurrent_minimization_is_serialised_and_every_allocation_re_derives(
    investigator_a, site_a, pada1, today, statistician
):
    """16 clients on a minimization design: the single design-wide cursor serialises them, so
    each allocation recomputed from the allocations before it and its stored draw gives the
    same arm."""
    version = rf.with_minimization(pada1)
    draft = design_generate(protocol_version=version, by=statistician, seed=rf.SEED, length=64)
    design = design_activate(design=draft, by=statistician)
    patients = [
        rf.randomizable(
            by=investigator_a,
            site=site_a,
            version=pada1,
            today=today,
            number=f"M{i:03d}",
            stratification=STRATA[(i * 7) % len(STRATA)],
        )
        for i in range(32)
    ]
    barrier = threading.Barrier(16)
    answers: Counter = Counter()
    lock = threading.Lock()

    def client_run(index):
        client = APIClient()
        client.force_authenticate(get_user_model().objects.get(pk=investigator_a.pk))
        rng = random.Random(100 + index)
        plan = [rng.choice(patients) for _ in range(24)] + patients[index::16]
        rng.shuffle(plan)
        try:
            barrier.wait()
            for patient in plan:
                key = f"p{patient.pk}" if rng.random() < 0.5 else f"m{index}-{rng.random()}"
                response = client.post(
                    f"/api/v1/patients/{patient.pk}/randomize/",
                    {"password": PASSWORD},
                    HTTP_IDEMPOTENCY_KEY=key,
                )
                with lock:
                    answers[(response.status_code, response.json().get("code"))] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client_run, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {(200, None), (409, "already_randomized")}, answers
    taken = list(Allocation.objects.filter(design=design).order_by("sequence_number"))
    assert len(taken) == len(patients)
    assert [a.sequence_number for a in taken] == list(range(1, len(patients) + 1))
    assert [a.pk for a in taken] == sorted(a.pk for a in taken)
    counts: dict = {factor: {} for factor in design.weights}
    for allocation in taken:
        result = minimize(
            arms=tuple(design.arms),
            ratio=design.ratio_in_arm_order(),
            factor_weights=design.weights,
            patient_levels=allocation.levels,
            counts=counts,
            p_preferred=design.p_preferred,
            measure=design.measure,
            uniform_draw=allocation.minimization["draw"],
        )
        assert result.chosen == allocation.arm
        assert (
            allocation.minimization["draw_53bit"]
            == MinimizationDraw.objects.get(
                design=design, sequence_number=allocation.sequence_number
            ).draw_53bit
        )
        for factor in counts:
            cell = counts[factor].setdefault(allocation.levels[factor], {})
            cell[allocation.arm] = cell.get(allocation.arm, 0) + 1
