"""On PostgreSQL, the audit trail of allocations is sealed like the allocations themselves.

simple-history only inserts history rows; an UPDATE or DELETE of one would rewrite who
allocated what and when. Other databases rely on the code.
"""

from django.db import migrations

FORWARD = """
CREATE TRIGGER randomization_historicalallocation_sealed BEFORE UPDATE OR DELETE
ON randomization_historicalallocation
FOR EACH ROW EXECUTE FUNCTION randomization_refuse_change();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS randomization_historicalallocation_sealed
ON randomization_historicalallocation;
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):  # noqa: ARG001
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("randomization", "0003_crossover")]

    operations = [
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False)
    ]
