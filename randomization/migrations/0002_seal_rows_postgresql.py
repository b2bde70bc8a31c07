"""On PostgreSQL, the database itself seals randomization rows, whatever the code does.

- allocations: never updated or deleted; inserted only against an active design;
- list entries and minimization draws: never updated or deleted; inserted only while their
  design is a draft (activation seals the list);
- designs: never deleted; the columns that define the list never change; status moves only
  draft -> active -> retired (or draft -> retired);
- cursors: never deleted; only ``allocated`` changes, and never backwards.

Errors use SQLSTATE 23001 (restrict_violation), an integrity error for the driver. Row triggers
do not fire on TRUNCATE, which only test teardown uses. Other backends rely on the code
(``randomization.models.base``), so the operations are no-ops there.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION randomization_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% on % is forbidden: randomization rows are sealed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION randomization_require_design_status() RETURNS trigger AS $$
DECLARE
    current_status text;
BEGIN
    SELECT status INTO current_status FROM randomization_design WHERE id = NEW.design_id;
    IF current_status IS DISTINCT FROM TG_ARGV[0] THEN
        RAISE EXCEPTION 'INSERT on % needs a % design (design % is %)',
            TG_TABLE_NAME, TG_ARGV[0], NEW.design_id, current_status
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION randomization_design_guard() RETURNS trigger AS $$
BEGIN
    IF (NEW.protocol_id, NEW.protocol_version_id, NEW.number, NEW.method, NEW.source,
        NEW.algorithm_version, NEW.arms, NEW.ratio, NEW.block_sizes, NEW.factors, NEW.weights,
        NEW.p_preferred, NEW.measure, NEW.length, NEW.seed_sha256, NEW.list_sha256)
       IS DISTINCT FROM
       (OLD.protocol_id, OLD.protocol_version_id, OLD.number, OLD.method, OLD.source,
        OLD.algorithm_version, OLD.arms, OLD.ratio, OLD.block_sizes, OLD.factors, OLD.weights,
        OLD.p_preferred, OLD.measure, OLD.length, OLD.seed_sha256, OLD.list_sha256) THEN
        RAISE EXCEPTION 'the content of randomization design % is sealed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'draft' AND NEW.status IN ('active', 'retired'))
        OR (OLD.status = 'active' AND NEW.status = 'retired')) THEN
        RAISE EXCEPTION 'design % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION randomization_cursor_guard() RETURNS trigger AS $$
BEGIN
    IF (NEW.design_id, NEW.stratum, NEW.length) IS DISTINCT FROM
       (OLD.design_id, OLD.stratum, OLD.length) OR NEW.allocated < OLD.allocated THEN
        RAISE EXCEPTION 'cursor % may only move forward', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER randomization_allocation_sealed
    BEFORE UPDATE OR DELETE ON randomization_allocation
    FOR EACH ROW EXECUTE FUNCTION randomization_refuse_change();
CREATE TRIGGER randomization_allocation_active_design
    BEFORE INSERT ON randomization_allocation
    FOR EACH ROW EXECUTE FUNCTION randomization_require_design_status('active');

CREATE TRIGGER randomization_listentry_sealed
    BEFORE UPDATE OR DELETE ON randomization_listentry
    FOR EACH ROW EXECUTE FUNCTION randomization_refuse_change();
CREATE TRIGGER randomization_listentry_draft_design
    BEFORE INSERT ON randomization_listentry
    FOR EACH ROW EXECUTE FUNCTION randomization_require_design_status('draft');

CREATE TRIGGER randomization_minimizationdraw_sealed
    BEFORE UPDATE OR DELETE ON randomization_minimizationdraw
    FOR EACH ROW EXECUTE FUNCTION randomization_refuse_change();
CREATE TRIGGER randomization_minimizationdraw_draft_design
    BEFORE INSERT ON randomization_minimizationdraw
    FOR EACH ROW EXECUTE FUNCTION randomization_require_design_status('draft');

CREATE TRIGGER randomization_design_no_delete
    BEFORE DELETE ON randomization_design
    FOR EACH ROW EXECUTE FUNCTION randomization_refuse_change();
CREATE TRIGGER randomization_design_guard
    BEFORE UPDATE ON randomization_design
    FOR EACH ROW EXECUTE FUNCTION randomization_design_guard();

CREATE TRIGGER randomization_cursor_no_delete
    BEFORE DELETE ON randomization_stratumcursor
    FOR EACH ROW EXECUTE FUNCTION randomization_refuse_change();
CREATE TRIGGER randomization_cursor_guard
    BEFORE UPDATE ON randomization_stratumcursor
    FOR EACH ROW EXECUTE FUNCTION randomization_cursor_guard();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS randomization_cursor_guard ON randomization_stratumcursor;
DROP TRIGGER IF EXISTS randomization_cursor_no_delete ON randomization_stratumcursor;
DROP TRIGGER IF EXISTS randomization_design_guard ON randomization_design;
DROP TRIGGER IF EXISTS randomization_design_no_delete ON randomization_design;
DROP TRIGGER IF EXISTS randomization_minimizationdraw_draft_design ON randomization_minimizationdraw;
DROP TRIGGER IF EXISTS randomization_minimizationdraw_sealed ON randomization_minimizationdraw;
DROP TRIGGER IF EXISTS randomization_listentry_draft_design ON randomization_listentry;
DROP TRIGGER IF EXISTS randomization_listentry_sealed ON randomization_listentry;
DROP TRIGGER IF EXISTS randomization_allocation_active_design ON randomization_allocation;
DROP TRIGGER IF EXISTS randomization_allocation_sealed ON randomization_allocation;
DROP FUNCTION IF EXISTS randomization_cursor_guard();
DROP FUNCTION IF EXISTS randomization_design_guard();
DROP FUNCTION IF EXISTS randomization_require_design_status();
DROP FUNCTION IF EXISTS randomization_refuse_change();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):  # noqa: ARG001
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("randomization", "0001_designs_lists_allocations")]

    operations = [
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False)
    ]
