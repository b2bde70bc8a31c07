"""The daily schedule job at 1k, 10k and 50k active patients: time and query count.

Seeding. One template patient goes through the real services: registered, consented, screened,
enrolled (``patient_enrol`` plans the calendar with ``schedule_rebuild``), then every cycle
started with ``cycle_start`` on its planned day, each start rebuilding the calendar. The other
patients are cloned from it in bulk, because the services take tens of milliseconds per cycle
and 50,000 patients would take hours: for each clone, C1D1 is spread over the last 18 months
(``c1d1_offset_days``), the template's schedule rows are shifted to that C1D1 and limited to
those the services had planned once the clone's cycles had started (``TemplateItem.planned_at_cycle``),
and each row's status, completion date and reminder stamps are those the daily job and timely
recording would have left yesterday (``steady_state``): items done on their planned day, except
one in twenty never done (they turn overdue, then missed). Patients and treatment lines are
inserted with their creation history row; the cloned schedule rows without history rows and
without cycle rows: the daily job reads and writes neither.

Measuring. After seeding 1k patients, one job run for yesterday works off the backlog of the
other patients in the database and warms up; then each size is measured by one run for today
under ``CaptureQueriesContext``. After each run, the status and reminder columns it changed are
put back (raw SQL on the throwaway database), so that every size starts from the same day and
the day's work is still to do for the Celery worker benchmark.
E-mail goes to Django's in-memory backend: the time to hand reminders to an SMTP server is not
part of the figure.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from trial.models import (
    ItemStatus,
    Patient,
    PatientStatus,
    Role,
    ScheduleItem,
    Site,
    StaffProfile,
    Step,
    TreatmentLine,
)
from trial.services import patients as patient_services
from trial.services.cycles import cycle_start
from trial.services.protocols import protocol_current_version
from trial.services.schedule import DailyResult, schedule_daily

SPAN_DAYS = 540  # C1D1 of the active patients spread over the last 18 months
NEVER_DONE_EVERY = 20
SCHEDULE_SITES = 50
_SPREAD_STEP = 7919  # a prime: consecutive patients land far apart in the span
_REMINDER_HOUR = dt.time(6, 0, tzinfo=dt.UTC)


# --- pure: the state a row is in after yesterday's run --------------------------------------


@dataclass(frozen=True)
class SeedState:
    status: str
    done_on: dt.date | None
    reminded_due_on: dt.date | None
    reminded_overdue_on: dt.date | None


def steady_state(
    *,
    planned_on: dt.date,
    window_opens: dt.date,
    window_closes: dt.date,
    remind_from: dt.date,
    missed_after: dt.date,
    never_done: bool,
    yesterday: dt.date,
) -> SeedState:
    """What ``schedule_daily`` run every day up to ``yesterday`` leaves on an item recorded on
    its planned day (before that day's run), or never when ``never_done``.

    The job on day D: upcoming/due items whose window closed (closes < D) become overdue; then
    upcoming items whose window opened (opens <= D) become due; overdue items with
    missed_after < D become missed; the due reminder goes out once remind_from <= D <= closes
    while upcoming or due; the overdue reminder once closes < D while overdue or missed.
    """
    if not never_done and planned_on <= yesterday:
        reminded = remind_from if remind_from < planned_on else None
        return SeedState(ItemStatus.DONE, planned_on, reminded, None)
    if window_opens > yesterday:
        status = ItemStatus.UPCOMING
    elif window_closes >= yesterday:
        status = ItemStatus.DUE
    elif missed_after < yesterday:
        status = ItemStatus.MISSED
    else:
        status = ItemStatus.OVERDUE
    reminded_due = remind_from if remind_from <= min(yesterday, window_closes) else None
    reminded_overdue = window_closes + dt.timedelta(days=1) if window_closes < yesterday else None
    return SeedState(status, None, reminded_due, reminded_overdue)


def c1d1_offset_days(index: int, span_days: int = SPAN_DAYS) -> int:
    """Days between patient ``index``'s C1D1 and yesterday: spread evenly over the span."""
    return (index * _SPREAD_STEP) % span_days


def cycles_started(c1d1: dt.date, yesterday: dt.date, cycle_days: int) -> int:
    """Cycles started by ``yesterday`` when every cycle starts on its planned day."""
    if c1d1 > yesterday:
        return 0
    return (yesterday - c1d1).days // cycle_days + 1


def never_done(index: int, position: int) -> bool:
    return (index * 31 + position) % NEVER_DONE_EVERY == 0


# --- the template patient, through the services ---------------------------------------------


@dataclass(frozen=True)
class TemplateItem:
    key: str
    kind: str
    cycle: int | None
    cycle_day: int | None
    anchor: str
    planned_on: dt.date
    window_opens: dt.date
    window_closes: dt.date
    remind_from: dt.date
    missed_after: dt.date
    planned_at_cycle: int  # cycles started when the services first planned the row


@dataclass(frozen=True)
class Template:
    c1d1: dt.date
    cycle_days: int
    line: TreatmentLine
    items: tuple[TemplateItem, ...]


@dataclass(frozen=True)
class ScheduleSites:
    sites: tuple[Site, ...]
    investigators: tuple[Any, ...]


def seed_schedule_sites(count: int = SCHEDULE_SITES) -> ScheduleSites:
    """Sites with one investigator each (with an e-mail address: reminders go per site)."""
    users = get_user_model().objects
    sites, investigators = [], []
    with transaction.atomic():
        for n in range(1, count + 1):
            site = Site.objects.create(code=f"SC{n:02d}", name=f"Schedule site {n}", country="FR")
            user = users.create_user(
                username=f"bench.sc{n:02d}", email=f"investigator.sc{n:02d}@bench.invalid"
            )
            profile = StaffProfile.objects.create(user=user, role=Role.INVESTIGATOR)
            profile.sites.set([site])
            sites.append(site)
            investigators.append(user)
    return ScheduleSites(tuple(sites), tuple(investigators))


def build_template(*, where: ScheduleSites, values: dict[str, Any], today: dt.date) -> Template:
    """One patient enrolled SPAN_DAYS + 60 days ago, every cycle started on its planned day up
    to today, through the services; records after which cycle start each row appeared."""
    version = protocol_current_version("PADA1")
    cycle_days = int(version.document["cycle_length_days"])
    site, by = where.sites[0], where.investigators[0]
    enrolled_on = today - dt.timedelta(days=SPAN_DAYS + 60)
    patient = patient_services.patient_register(
        by=by,
        site=site,
        protocol_version=version,
        screening_number="SCH-TEMPLATE",
        year_of_birth=enrolled_on.year - 62,
        sex="female",
        menopausal_status="postmenopausal",
    )
    patient_services.consent_record(
        by=by,
        patient=patient,
        form_version="ICF-1.0",
        consented_on=enrolled_on,
        taken_by=by,
        today=enrolled_on,
    )
    patient_services.eligibility_submit(
        by=by, patient=patient, submitted=values, screening_date=enrolled_on, today=enrolled_on
    )
    c1d1 = enrolled_on + dt.timedelta(days=7)
    patient = patient_services.patient_enrol(
        by=by, patient=patient, endocrine_drug="letrozole", planned_c1d1=c1d1, today=enrolled_on
    )
    line = TreatmentLine.objects.get(patient=patient, ended_on=None)
    first_seen = {key: 0 for key in _planned_keys(line)}
    started, on = 0, c1d1
    while on <= today:
        cycle_start(patient=patient, on=on, by=by, today=on)
        started += 1
        for key in _planned_keys(line):
            first_seen.setdefault(key, started)
        on += dt.timedelta(days=cycle_days)
    rows = ScheduleItem.objects.filter(line=line, key__in=first_seen).order_by("planned_on", "key")
    items = tuple(
        TemplateItem(
            key=row.key,
            kind=row.kind,
            cycle=row.cycle,
            cycle_day=row.cycle_day,
            anchor=row.anchor,
            planned_on=row.planned_on,
            window_opens=row.window_opens,
            window_closes=row.window_closes,
            remind_from=row.remind_from,
            missed_after=row.missed_after,
            planned_at_cycle=first_seen[row.key],
        )
        for row in rows
    )
    line.refresh_from_db()
    return Template(c1d1=c1d1, cycle_days=cycle_days, line=line, items=items)


def _planned_keys(line: TreatmentLine) -> list[str]:
    return list(
        ScheduleItem.objects.filter(line=line)
        .exclude(status=ItemStatus.CANCELLED)
        .values_list("key", flat=True)
    )


# --- clones, in bulk --------------------------------------------------------------------------


def _at(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, _REMINDER_HOUR)


PER_PATIENT_COLUMNS = ("created_at", "created_by_id", "patient_id", "line_id")


def copy_text(values: Sequence[Any]) -> str:
    """One line of PostgreSQL's COPY text format (without the newline)."""
    fields = []
    for value in values:
        if value is None:
            fields.append("\\N")
        elif isinstance(value, bool):
            fields.append("t" if value else "f")
        elif isinstance(value, dt.date):  # dates and datetimes
            fields.append(value.isoformat())
        else:
            text = str(value)
            for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                text = text.replace(raw, escaped)
            fields.append(text)
    return "\t".join(fields)


def item_values(
    item: TemplateItem, *, shift: dt.timedelta, never_done: bool, yesterday: dt.date
) -> dict[str, Any]:
    """Every column of one cloned schedule row except ``PER_PATIENT_COLUMNS``."""
    dates = {
        "planned_on": item.planned_on + shift,
        "window_opens": item.window_opens + shift,
        "window_closes": item.window_closes + shift,
        "remind_from": item.remind_from + shift,
        "missed_after": item.missed_after + shift,
    }
    state = steady_state(**dates, never_done=never_done, yesterday=yesterday)
    return {
        "key": item.key,
        "kind": item.kind,
        "cycle": item.cycle,
        "cycle_day": item.cycle_day,
        "anchor": item.anchor,
        **dates,
        "status": str(state.status),
        "held": False,
        "done_on": state.done_on,
        "done_ref": f"bench:{item.kind}" if state.done_on else "",
        "reminded_due_at": _at(state.reminded_due_on),
        "reminded_overdue_at": _at(state.reminded_overdue_on),
    }


def schedule_item_columns() -> list[str]:
    """The table's columns but the id, per-patient ones first; checked against the model."""
    model_columns = [f.column for f in ScheduleItem._meta.concrete_fields if not f.primary_key]
    rest = [c for c in model_columns if c not in PER_PATIENT_COLUMNS]
    if not set(PER_PATIENT_COLUMNS) <= set(model_columns):
        raise RuntimeError(f"ScheduleItem columns changed: {model_columns}")
    return [*PER_PATIENT_COLUMNS, *rest]


class _Rows:
    """A clone's rows depend on its C1D1 offset and on which items it never does: computed
    once per (offset, index mod NEVER_DONE_EVERY) as COPY text after the per-patient columns."""

    def __init__(self, template: Template, yesterday: dt.date):
        self.template, self.yesterday = template, yesterday
        self.columns = schedule_item_columns()[len(PER_PATIENT_COLUMNS) :]
        self.cache: dict[tuple[int, int], list[str]] = {}

    def suffixes(self, index: int) -> list[str]:
        offset = c1d1_offset_days(index)
        key = (offset, index % NEVER_DONE_EVERY)
        if key not in self.cache:
            self.cache[key] = self._compute(index, offset)
        return self.cache[key]

    def _compute(self, index: int, offset: int) -> list[str]:
        template = self.template
        c1d1 = self.yesterday - dt.timedelta(days=offset)
        shift = c1d1 - template.c1d1
        started = cycles_started(c1d1, self.yesterday, template.cycle_days)
        lines = []
        for position, item in enumerate(template.items):
            if item.planned_at_cycle > started:
                continue
            values = item_values(
                item,
                shift=shift,
                never_done=never_done(index, position),
                yesterday=self.yesterday,
            )
            if set(values) != set(self.columns):
                raise RuntimeError(f"schedule rows do not match the model: {sorted(values)}")
            lines.append(copy_text([values[c] for c in self.columns]))
        return lines


def _copy_lines(lines: list[str]) -> None:
    """COPY text lines into the schedule table (an order of magnitude faster than
    ``bulk_create``); every column of the model is written, as the ORM would write it."""
    statement = (
        f"COPY {ScheduleItem._meta.db_table} ({', '.join(schedule_item_columns())}) FROM STDIN"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for start in range(0, len(lines), 10_000):
            copy.write("".join(f"{line}\n" for line in lines[start : start + 10_000]))


def seed_clones(
    *,
    template: Template,
    where: ScheduleSites,
    start: int,
    stop: int,
    yesterday: dt.date,
    chunk: int = 1000,
) -> int:
    """Clone patients ``start`` to ``stop - 1``; returns the schedule rows inserted. The
    schedule table's secondary indexes are built once after the load rather than row by row,
    then the tables are analysed, as autovacuum would have by the time the job runs."""
    with _indexes_built_after(ScheduleItem):
        inserted = _seed_chunks(template, where, start, stop, yesterday, chunk)
    with connection.cursor() as cursor:
        for model in (Patient, TreatmentLine, ScheduleItem):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return inserted


@contextmanager
def _indexes_built_after(model: type[ScheduleItem]) -> Iterator[None]:
    """Drop the model's ``Meta.indexes`` for a bulk load and create them again from the same
    definitions afterwards (constraints stay)."""
    with connection.schema_editor() as editor:
        for index in model._meta.indexes:
            editor.remove_index(model, index)
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            for index in model._meta.indexes:
                editor.add_index(model, index)


def _seed_chunks(
    template: Template,
    where: ScheduleSites,
    start: int,
    stop: int,
    yesterday: dt.date,
    chunk: int,
) -> int:
    source = template.line.patient
    clone_rows = _Rows(template, yesterday)
    inserted = 0
    for chunk_start in range(start, stop, chunk):
        indexes = range(chunk_start, min(stop, chunk_start + chunk))
        with transaction.atomic():
            patients = []
            for index in indexes:
                site_number = index % len(where.sites)
                c1d1 = yesterday - dt.timedelta(days=c1d1_offset_days(index))
                patient = Patient(
                    site=where.sites[site_number],
                    protocol_id=source.protocol_id,
                    protocol_version_id=source.protocol_version_id,
                    screening_number=f"SCH-{index:06d}",
                    trial_number=f"PADA1-{where.sites[site_number].code}-{index // len(where.sites) + 2:04d}",
                    status=PatientStatus.ENROLLED,
                    step=Step.STEP1,
                    year_of_birth=source.year_of_birth - index % 20,
                    sex=source.sex,
                    menopausal_status=source.menopausal_status,
                    enrolled_on=c1d1 - dt.timedelta(days=7),
                    created_by=where.investigators[site_number],
                )
                patient._history_user = patient.created_by  # type: ignore[attr-defined]
                patients.append(patient)
            bulk_create_with_history(patients, Patient, batch_size=chunk)
            lines = []
            for patient in patients:
                c1d1 = patient.enrolled_on + dt.timedelta(days=7)
                line = TreatmentLine(
                    patient=patient,
                    step=template.line.step,
                    regimen=template.line.regimen,
                    endocrine_drug=template.line.endocrine_drug,
                    palbociclib_dose_mg=template.line.palbociclib_dose_mg,
                    planned_c1d1=c1d1,
                    started_on=c1d1,
                    created_by=patient.created_by,
                )
                line._history_user = patient.created_by  # type: ignore[attr-defined]
                lines.append(line)
            bulk_create_with_history(lines, TreatmentLine, batch_size=chunk)
            now = timezone.now()
            rows = []
            for index, line in zip(indexes, lines, strict=True):
                prefix = copy_text([now, line.created_by_id, line.patient_id, line.pk])
                rows += [f"{prefix}\t{suffix}" for suffix in clone_rows.suffixes(index)]
            with connection.cursor() as cursor:
                # Foreign keys not re-checked row by row for this load only: every row points
                # at the patient and line inserted just above.
                cursor.execute("SET LOCAL session_replication_role = replica")
            # Rows written without history: bench seeding only (see the module docstring).
            _copy_lines(rows)
            inserted += len(rows)
    return inserted


# --- the job --------------------------------------------------------------------------------


class QueryKind(StrEnum):
    ITEM_CLAIM = "item claim"
    PER_SITE = "per site"
    OTHER = "other"


_PER_SITE_PREFIXES = ("BEGIN", "COMMIT", "ROLLBACK", 'INSERT INTO "trial_auditevent"')


def query_kind(sql: str) -> QueryKind:
    """What a query of the job is for. Item claims (conditional UPDATEs of schedule items by
    primary key, one per batch of up to ``trial.services.schedule.CLAIM_BATCH`` items: status
    moves, missed marks, reminders; earlier versions claimed one item per UPDATE) grow with the
    items handled. Once per site, reminder stage and batch come the claim transaction (BEGIN,
    COMMIT), the recipients lookup and the audit insert (the run adds one audit insert of its
    own). The other queries must not grow at all."""
    if sql.startswith('UPDATE "trial_scheduleitem"') and (
        '"trial_scheduleitem"."id" = ' in sql or " IN (SELECT " in sql
    ):
        return QueryKind.ITEM_CLAIM
    if sql.startswith(_PER_SITE_PREFIXES) or (
        sql.startswith("SELECT") and 'FROM "auth_user"' in sql
    ):
        return QueryKind.PER_SITE
    return QueryKind.OTHER


@dataclass(frozen=True)
class ScheduleRun:
    patients: int
    schedule_rows: int
    seconds: float
    queries: dict[str, int]
    result: DailyResult

    @property
    def total_queries(self) -> int:
        return sum(self.queries.values())

    @property
    def other_queries(self) -> int:
        return self.queries.get(QueryKind.OTHER, 0)

    @property
    def handled_items(self) -> int:
        r = self.result
        return (
            r.became_overdue
            + r.became_due
            + r.became_missed
            + r.due_reminders
            + r.overdue_reminders
        )


QUERY_LOG_LIMIT = 1_000_000


def run_daily(*, today: dt.date, patients: int) -> ScheduleRun:
    rows = ScheduleItem.objects.count()
    # Django keeps the last 9,000 queries only; a day at 50k patients may need more.
    connection.queries_log = deque(maxlen=QUERY_LOG_LIMIT)
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        result = schedule_daily(today=today)
        seconds = time.perf_counter() - started
    if len(connection.queries_log) >= QUERY_LOG_LIMIT:
        raise RuntimeError("the query log overflowed: the count would be wrong")
    kinds = Counter(query_kind(q["sql"]) for q in captured.captured_queries)
    return ScheduleRun(
        patients=patients,
        schedule_rows=rows,
        seconds=seconds,
        queries={str(kind): kinds.get(kind, 0) for kind in QueryKind},
        result=result,
    )


_SNAPSHOT = "bench_schedule_snapshot"


def snapshot_statuses() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_SNAPSHOT}")  # noqa: S608 - constant name
        cursor.execute(
            f"CREATE UNLOGGED TABLE {_SNAPSHOT} AS SELECT id, status, reminded_due_at, "  # noqa: S608 - constant name
            "reminded_overdue_at FROM trial_scheduleitem"
        )


def restore_statuses() -> int:
    """Put back the bookkeeping columns the measured run changed; returns the rows restored."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE trial_scheduleitem AS t SET status = s.status, "  # noqa: S608 - constant name
            f"reminded_due_at = s.reminded_due_at, reminded_overdue_at = s.reminded_overdue_at "
            f"FROM {_SNAPSHOT} AS s WHERE t.id = s.id AND (t.status, t.reminded_due_at, "
            "t.reminded_overdue_at) IS DISTINCT FROM (s.status, s.reminded_due_at, "
            "s.reminded_overdue_at)"
        )
        restored = cursor.rowcount
        cursor.execute(f"DROP TABLE {_SNAPSHOT}")  # noqa: S608 - constant name
    return restored


@dataclass(frozen=True)
class ScheduleBench:
    runs: tuple[ScheduleRun, ...]
    warmup: ScheduleRun
    template_rows: int
    seed_seconds: float


def bench_schedule(
    *, sizes: Sequence[int], values: dict[str, Any], log: Any = print
) -> ScheduleBench:
    """Seed up to each size in turn and run the daily job once for today at each."""
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    seed_seconds = 0.0
    started = time.perf_counter()
    where = seed_schedule_sites()
    template = build_template(where=where, values=values, today=yesterday)
    seed_seconds += time.perf_counter() - started
    log(f"schedule template: {len(template.items)} rows over {template.c1d1} to {yesterday}")
    runs, seeded, warmup = [], 0, None
    for size in sorted(sizes):
        started = time.perf_counter()
        rows = seed_clones(
            template=template, where=where, start=seeded, stop=size, yesterday=yesterday
        )
        seed_seconds += time.perf_counter() - started
        log(f"schedule: {size:,} patients seeded (+{rows:,} schedule rows)")
        seeded = size
        if warmup is None:
            warmup = run_daily(today=yesterday, patients=size)
            log(f"schedule: catch-up run for yesterday handled {warmup.handled_items:,} items")
        snapshot_statuses()
        run = run_daily(today=today, patients=size)
        log(
            f"schedule: {size:,} patients: {run.seconds:.2f} s, {run.total_queries:,} queries, "
            f"{run.handled_items:,} items handled"
        )
        runs.append(run)
        restore_statuses()
    assert warmup is not None
    return ScheduleBench(
        runs=tuple(runs),
        warmup=warmup,
        template_rows=len(template.items),
        seed_seconds=seed_seconds,
    )
