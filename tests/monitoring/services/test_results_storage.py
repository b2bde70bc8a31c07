"""Results, variants and submissions are written once: the models and PostgreSQL refuse changes;
the database enforces one result per (lab, sample) and the value ranges."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from monitoring.models import CtdnaResult, CtdnaVariant, ImmutableRowError, LabSubmission
from monitoring.services.ingestion import submission_record
from tests.monitoring.conftest import day, draw, ingest, payload, variant
from trial.models import HardDeleteForbidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(lab_a, patient_a, investigator_a):
    sample = draw(patient_a, "S-000", day(0), investigator_a)
    return ingest(lab_a, payload(sample, variants=[variant()])).result


def test_the_models_refuse_changes_and_deletion(stored):
    variant_row = stored.variants.get()
    for row in (stored, variant_row, stored.submission):
        with pytest.raises(ImmutableRowError):
            row.save()
        with pytest.raises(HardDeleteForbidden):
            row.delete()
    for model in (CtdnaResult, CtdnaVariant, LabSubmission):
        with pytest.raises(ImmutableRowError):
            model.objects.update(pk=0)
        with pytest.raises(HardDeleteForbidden):
            model.objects.all().delete()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE monitoring_ctdnaresult SET assay = 'other'",
        "DELETE FROM monitoring_ctdnaresult",
        "UPDATE monitoring_ctdnavariant SET vaf = 0.5",
        "DELETE FROM monitoring_ctdnavariant",
        "UPDATE monitoring_labsubmission SET body = ''",
        "DELETE FROM monitoring_labsubmission",
    ],
)
def test_postgresql_refuses_raw_updates_and_deletes(stored, sql):
    with (
        pytest.raises(IntegrityError, match="rows are written once"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert CtdnaResult.objects.get().assay == "ddPCR"


def _copy(result, **changes):
    fields = {
        f.attname: getattr(result, f.attname)
        for f in CtdnaResult._meta.concrete_fields
        if f.name not in {"id", "created_at"}
    }
    fields.update(changes)
    return CtdnaResult(**fields)


def test_one_result_per_lab_and_sample_is_a_database_constraint(stored):
    with pytest.raises(IntegrityError), transaction.atomic():
        _copy(stored, content_sha256="other").save()


def test_an_amendment_row_needs_the_original_and_a_reason(stored):
    with pytest.raises(IntegrityError), transaction.atomic():
        _copy(stored, version=2, amends_id=None, amendment_reason="x").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _copy(stored, version=2, amends_id=stored.pk, amendment_reason="").save()
    _copy(stored, version=2, amends_id=stored.pk, amendment_reason="re-run").save()


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"vaf": 1.01}, "ctdnavariant_vaf_fraction"),
        ({"vaf": -0.1}, "ctdnavariant_vaf_fraction"),
        ({"copies_per_ml": -1.0}, "ctdnavariant_copies_not_negative"),
        ({"vaf": None, "copies_per_ml": None}, "ctdnavariant_has_measurement"),
    ],
)
def test_variant_values_are_checked_by_the_database(stored, changes, name):
    row = stored.variants.get()
    fields = {
        f.attname: getattr(row, f.attname)
        for f in CtdnaVariant._meta.concrete_fields
        if f.name != "id"
    }
    fields.update(changes, position=1, protein_change="p.Y537S")
    with pytest.raises(IntegrityError, match=name), transaction.atomic():
        CtdnaVariant(**fields).save()


def test_analysis_before_the_draw_is_refused_by_the_database(stored):
    with pytest.raises(IntegrityError), transaction.atomic():
        _copy(
            stored, version=2, amends_id=stored.pk, amendment_reason="x", analysed_on=day(-1)
        ).save()


def test_a_body_that_is_not_utf8_is_kept_with_the_digest_of_its_bytes(lab_a):
    import hashlib

    raw = b'{"sample_id": "\xff\x00"}'
    submission = submission_record(
        lab=lab_a, channel="json", media_type="application/json", body=raw
    )
    assert submission.body_sha256 == hashlib.sha256(raw).hexdigest()
    assert submission.body == '{"sample_id": "\ufffd\ufffd"}'
