"""On PostgreSQL, refuse UPDATE and DELETE on lab submissions, ctDNA results and variants.

The models refuse in code as well; the trigger also stops raw SQL and other clients. Other
databases (the embedded SQLite demo) skip this migration's SQL and rely on the code.
TRUNCATE (test flushes) is not a row event and is not affected.
"""

from django.db import migrations

from monitoring.migrations._postgres import PostgresOnlyRunSQL

TABLES = ("monitoring_labsubmission", "monitoring_ctdnaresult", "monitoring_ctdnavariant")

FUNCTION = """
CREATE OR REPLACE FUNCTION monitoring_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: rows are written once (amend instead)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def _create_triggers() -> str:
    return "\n".join(
        f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION monitoring_refuse_change();"
        for table in TABLES
    )


def _drop_triggers() -> str:
    return "\n".join(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table};" for table in TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_ctdna_monitoring"),
    ]

    operations = [
        PostgresOnlyRunSQL(
            sql=FUNCTION + _create_triggers(),
            reverse_sql=_drop_triggers() + "\nDROP FUNCTION IF EXISTS monitoring_refuse_change();",
        ),
    ]
