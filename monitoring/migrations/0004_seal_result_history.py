"""On PostgreSQL, the audit trail of results and variants is sealed like the rows themselves.

simple-history only inserts history rows; an UPDATE or DELETE of one would rewrite what the
lab sent and when. Other databases rely on the code.
"""

from django.db import migrations

from monitoring.migrations._postgres import PostgresOnlyRunSQL

TABLES = ("monitoring_historicalctdnaresult", "monitoring_historicalctdnavariant")


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0003_outbox_claim_before_outcome"),
    ]

    operations = [
        PostgresOnlyRunSQL(
            sql="\n".join(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION monitoring_refuse_change();"
                for table in TABLES
            ),
            reverse_sql="\n".join(
                f"DROP TRIGGER IF EXISTS {table}_immutable ON {table};" for table in TABLES
            ),
        ),
    ]
