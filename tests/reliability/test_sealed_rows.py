"""Allocations and lab results are written once: every way of changing or deleting one fails.

The feature suites pin the main paths model by model (tests/randomization/test_sealed.py,
tests/monitoring/services/test_results_storage.py). This module runs every path against every
sealed table of both apps, so that a path one of them forgets shows up:

- in code, on any database: ``save()`` of a changed row, ``delete()``, ``QuerySet.update()``,
  ``QuerySet.delete()``, ``bulk_update()``;
- in PostgreSQL (triggers), for paths that skip the models' guards: the base manager's plain
  queryset, ``_raw_delete``, ``bulk_create(update_conflicts=True)`` on an existing row, raw SQL
  UPDATE and DELETE, and the same raw SQL on the tables of their history (the audit trail).

Out of reach by design: TRUNCATE (not a row event; the test runner's flush uses it) and a
superuser's ``session_replication_role = replica``, which disables triggers; the application's
database role must therefore not be a superuser.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, models, transaction
from django.forms.models import model_to_dict

from monitoring.models import CtdnaResult, CtdnaVariant, ImmutableRowError, LabSubmission
from randomization.exceptions import ImmutableRecord
from randomization.models import Allocation
from trial.models import HardDeleteForbidden

from .known_bugs import conclude

#: Each sealed model with a column to try to change and the value to try.
SEALED = {
    "allocation": (Allocation, "arm", "Z"),
    "ctdna_result": (CtdnaResult, "assay", "tampered"),
    "ctdna_variant": (CtdnaVariant, "vaf", 0.5),
    "lab_submission": (LabSubmission, "body", "{}"),
}
REFUSED_IN_CODE = (ImmutableRecord, ImmutableRowError, HardDeleteForbidden)


def _row(world, name: str):
    a = world.sites["FR01"]
    return {
        "allocation": a.allocation,
        "ctdna_result": a.result,
        "ctdna_variant": CtdnaVariant.objects.filter(result__patient__site=a.site).first(),
        "lab_submission": a.result.submission,
    }[name]


def _save(model, row, field, value):
    setattr(row, field, value)
    row.save()


CODE_PATHS = {
    "save": _save,
    "delete": lambda model, row, field, value: row.delete(),
    "queryset_update": lambda model, row, field, value: model.objects.filter(pk=row.pk).update(
        **{field: value}
    ),
    "queryset_delete": lambda model, row, field, value: model.objects.filter(pk=row.pk).delete(),
    "bulk_update": lambda model, row, field, value: model.objects.bulk_update(
        [_changed(row, field, value)], [field]
    ),
}


def _changed(row, field, value):
    setattr(row, field, value)
    return row


def _upsert(model, row, field, value):
    copy = model(**{f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields})
    setattr(copy, field, value)
    models.QuerySet(model=model).bulk_create(
        [copy], update_conflicts=True, unique_fields=["id"], update_fields=[field]
    )


def _sql(statement: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


DATABASE_PATHS = {
    "base_manager_update": lambda model, row, field, value: model._base_manager.filter(
        pk=row.pk
    ).update(**{field: value}),
    "raw_delete": lambda model, row, field, value: (
        models.QuerySet(model=model).filter(pk=row.pk)._raw_delete(connection.alias)
    ),
    "upsert": _upsert,
    "sql_update": lambda model, row, field, value: _sql(
        f"UPDATE {model._meta.db_table} SET {field} = %s WHERE id = %s", [value, row.pk]
    ),
    "sql_delete": lambda model, row, field, value: _sql(
        f"DELETE FROM {model._meta.db_table} WHERE id = %s", [row.pk]
    ),
}


def _snapshot(model, pk) -> dict:
    return model_to_dict(model._base_manager.get(pk=pk))


@pytest.mark.parametrize("path", CODE_PATHS)
@pytest.mark.parametrize("name", SEALED)
def test_the_code_refuses(in_world, name, path):
    model, field, value = SEALED[name]
    row = _row(in_world, name)
    before = _snapshot(model, row.pk)
    with pytest.raises(REFUSED_IN_CODE), transaction.atomic():
        CODE_PATHS[path](model, row, field, value)
    assert _snapshot(model, row.pk) == before


@pytest.mark.postgres
@pytest.mark.parametrize("path", DATABASE_PATHS)
@pytest.mark.parametrize("name", SEALED)
def test_postgresql_refuses(in_world, name, path):
    model, field, value = SEALED[name]
    row = _row(in_world, name)
    before = _snapshot(model, row.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        DATABASE_PATHS[path](model, row, field, value)
    assert _snapshot(model, row.pk) == before


HISTORY = [name for name, (model, _f, _v) in SEALED.items() if hasattr(model, "history")]
HISTORY_STATEMENTS = {
    "update": "UPDATE {table} SET history_change_reason = 'rewritten'",
    "delete": "DELETE FROM {table}",
}


@pytest.mark.postgres
@pytest.mark.parametrize("statement", HISTORY_STATEMENTS)
@pytest.mark.parametrize("name", HISTORY)
def test_postgresql_refuses_changes_to_their_history(in_world, name, statement):
    """The history rows are what the patient's audit trail shows of a sealed row."""
    model = SEALED[name][0]
    table = model.history.model._meta.db_table
    before = list(model.history.order_by("history_id").values())
    rows = []
    try:
        with transaction.atomic():
            _sql(HISTORY_STATEMENTS[statement].format(table=table), [])
            rows.append(f"{statement} of {table} accepted")
            transaction.set_rollback(True)
    except IntegrityError:
        pass
    assert list(model.history.order_by("history_id").values()) == before
    conclude("sealed-history", name, rows)
