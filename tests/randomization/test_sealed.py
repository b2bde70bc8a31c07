"""Sealed rows: the code refuses to change allocations and lists on any backend; on
PostgreSQL the database refuses too, even through raw SQL or a bare queryset."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, models, transaction

from randomization.exceptions import ImmutableRecord
from randomization.models import Allocation, Design, ListEntry, StratumCursor
from randomization.services.allocation import patient_randomize
from randomization.services.designs import design_generate
from tests.conftest import PASSWORD
from trial.models import HardDeleteForbidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def allocation(patient, investigator_a, today):
    return patient_randomize(
        patient=patient, by=investigator_a, password=PASSWORD, idempotency_key="k", today=today
    ).allocation


def test_the_code_refuses_to_change_an_allocation(allocation):
    allocation.arm = "B" if allocation.arm == "A" else "A"
    with pytest.raises(ImmutableRecord):
        allocation.save()
    with pytest.raises(HardDeleteForbidden):
        allocation.delete()
    with pytest.raises(ImmutableRecord):
        Allocation.objects.filter(pk=allocation.pk).update(arm="B")
    with pytest.raises(HardDeleteForbidden):
        Allocation.objects.filter(pk=allocation.pk).delete()
    with pytest.raises(ImmutableRecord):
        Allocation.objects.bulk_update([allocation], ["arm"])


def test_the_code_refuses_to_change_a_list(design):
    entry = ListEntry.objects.filter(design=design).first()
    entry.arm = "B"
    with pytest.raises(ImmutableRecord):
        entry.save()
    with pytest.raises(HardDeleteForbidden):
        entry.delete()
    with pytest.raises(ImmutableRecord):
        ListEntry.objects.filter(design=design).update(arm="A")
    with pytest.raises(HardDeleteForbidden):
        ListEntry.objects.filter(design=design).delete()
    with pytest.raises(HardDeleteForbidden):
        design.delete()
    with pytest.raises(HardDeleteForbidden):
        StratumCursor.objects.filter(design=design).first().delete()


def _refused(sql, params=()):
    refused = pytest.raises(IntegrityError, match="forbidden|sealed|cannot go|needs a|forward")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_of_an_allocation(allocation):
    _refused("UPDATE randomization_allocation SET arm = 'Z' WHERE id = %s", [allocation.pk])
    _refused("DELETE FROM randomization_allocation WHERE id = %s", [allocation.pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        models.QuerySet(model=Allocation).filter(pk=allocation.pk).update(arm="Z")
    with pytest.raises(IntegrityError), transaction.atomic():
        models.QuerySet(model=Allocation).filter(pk=allocation.pk)._raw_delete(connection.alias)
    allocation.refresh_from_db()
    assert allocation.arm in {"A", "B"}


@pytest.mark.postgres
def test_postgresql_refuses_changes_to_an_active_list(design):
    entry = ListEntry.objects.filter(design=design).first()
    _refused("UPDATE randomization_listentry SET arm = 'Z' WHERE id = %s", [entry.pk])
    _refused("DELETE FROM randomization_listentry WHERE design_id = %s", [design.pk])
    _refused(
        "INSERT INTO randomization_listentry (design_id, stratum, sequence_number, arm,"
        " block_number, block_size) VALUES (%s, 'x', 999, 'A', 1, 2)",
        [design.pk],
    )
    _refused("UPDATE randomization_design SET list_sha256 = 'x' WHERE id = %s", [design.pk])
    _refused("UPDATE randomization_design SET block_sizes = '[2]' WHERE id = %s", [design.pk])
    _refused(
        "UPDATE randomization_design SET status = 'draft', activated_at = NULL WHERE id = %s",
        [design.pk],
    )
    _refused("DELETE FROM randomization_design WHERE id = %s", [design.pk])
    cursor = StratumCursor.objects.filter(design=design).first()
    _refused("UPDATE randomization_stratumcursor SET length = 1 WHERE id = %s", [cursor.pk])
    _refused("DELETE FROM randomization_stratumcursor WHERE id = %s", [cursor.pk])


@pytest.mark.postgres
def test_postgresql_refuses_allocations_from_a_draft_and_cursors_going_back(
    allocation, statistician, pada1
):
    draft = design_generate(protocol_version=pada1, by=statistician, seed="f" * 40, length=2)
    _refused(
        "INSERT INTO randomization_allocation (created_at, patient_id, design_id, stratum, levels,"
        " sequence_scope, sequence_number, arm, minimization, allocated_on, idempotency_key)"
        " VALUES (now(), %s, %s, 'all', '{}', 'all', 1, 'A', '{}', now(), 'other')",
        [allocation.patient_id, draft.pk],
    )
    used = StratumCursor.objects.get(design=allocation.design, stratum=allocation.stratum)
    _refused("UPDATE randomization_stratumcursor SET allocated = 0 WHERE id = %s", [used.pk])
    assert Design.objects.get(pk=draft.pk).status == "draft"
