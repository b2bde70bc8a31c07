"""The day loop: beat jobs, site work, the laboratories and the worker, one simulated day at a
time under a controlled clock.

Each day:

- 06:00, as Celery beat would: the daily schedule job (due/overdue/missed items, reminders),
  the Step 2 window expiry and the outbox drain, each by calling its task body; API tokens
  close to expiry are rotated;
- 09:00, the sites: screening and enrolment, then the day's agenda (repeat blood counts,
  imaging for a rising mutation, randomization, crossover...), then every item of the product's
  calendar planned for today (:mod:`monitoring.simulation.clinic`);
- 16:00, the laboratories post the day's results through ``POST /api/v1/ctdna/results/batch/``
  with their tokens, and the worker runs ``process_outbox_task`` on every outbox row the
  ingestion published, as Celery would; the sites then react to the trigger.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.urls import reverse

from monitoring.models import TriggerOutbox
from monitoring.tasks import outbox_drain_task, process_outbox_task
from trial.models import ProtocolVersion
from trial.tasks import schedule_daily_task, step2_expire_windows_task

from .clinic import Clinic, PatientRun
from .cohort import plan_cohort
from .environment import Environment
from .meter import Meter
from .progress import Progress
from .scenario import RunConfig
from .world import LabAccount, Staffing, World, build_world

DAY = dt.timedelta(days=1)
BATCH_LIMIT = 500  # the batch endpoint's maximum


@dataclass
class Counters:
    reminders_runs: int = 0
    outbox_processed: int = 0
    results_posted: int = 0
    batches_posted: int = 0


@dataclass
class Agenda:
    """Actions planned for a day: (patient index, sequence, action, arguments)."""

    days: dict[dt.date, list[tuple[int, int, str, tuple]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    sequence: int = 0

    def add(self, day: dt.date, index: int, action: str, *args: Any) -> None:
        self.sequence += 1
        self.days[day].append((index, self.sequence, action, args))

    def pop(self, day: dt.date) -> list[tuple[int, int, str, tuple]]:
        return sorted(self.days.pop(day, []))


@dataclass
class SimulationResult:
    config: RunConfig
    first_day: dt.date
    last_day: dt.date
    world: World
    runs: list[PatientRun]
    counters: Counters
    wall_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    meter: Meter = field(default_factory=Meter)


class Simulation:
    def __init__(
        self,
        config: RunConfig,
        *,
        version: ProtocolVersion,
        staffing_factory: Callable[[], Staffing],
        env: Environment,
        last_day: dt.date,
        progress: Progress | None = None,
    ):
        self.config = config
        self.env = env
        self.last_day = last_day
        self.first_day = last_day - dt.timedelta(
            days=round(config.scenario.months_to_days(config.months))
        )
        self.progress = progress or Progress(None)
        self.agenda = Agenda()
        self.counters = Counters()
        self.lab_queue: dict[dt.date, dict[str, list[dict]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.timings: dict[str, float] = defaultdict(float)
        self.meter = Meter()
        self.env.clock.at(self.first_day, 6)
        self.world = build_world(
            version, staffing_factory(), seed=config.seed, patients=config.patients
        )
        for actor in self.world.actors:
            actor.meter = self.meter
        self.clinic = Clinic(self)
        self.runs = self.clinic.plan_runs(plan_cohort(config))

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        started = time.perf_counter()
        day = self.first_day
        total = (self.last_day - self.first_day).days + 1
        with connection.execute_wrapper(self.meter.count_query):
            while day <= self.last_day:
                self._timed("beat", self._beat, day)
                self._timed("sites", self._sites, day)
                self._timed("labs", self._labs, day)
                self.progress.update(
                    (day - self.first_day).days + 1, total, day, self.clinic.census()
                )
                day += DAY
        self.progress.finish()
        return SimulationResult(
            config=self.config,
            first_day=self.first_day,
            last_day=self.last_day,
            world=self.world,
            runs=self.runs,
            counters=self.counters,
            wall_seconds=time.perf_counter() - started,
            phase_seconds=dict(self.timings),
            meter=self.meter,
        )

    def _timed(self, name: str, step: Callable[[dt.date], None], day: dt.date) -> None:
        started = time.perf_counter()
        step(day)
        self.timings[name] += time.perf_counter() - started

    def _beat(self, day: dt.date) -> None:
        self.env.clock.at(day, 6)
        self.world.rotate_tokens()
        with self.meter.measure("schedule_daily_task"):
            schedule_daily_task()
        with self.meter.measure("step2_expire_windows_task"):
            step2_expire_windows_task()
        with self.meter.measure("outbox_drain_task"):
            self.counters.outbox_processed += outbox_drain_task()
        self.counters.reminders_runs += 1

    def _sites(self, day: dt.date) -> None:
        self.env.clock.at(day, 9)
        for index, _seq, action, args in self.agenda.pop(day):
            self.clinic.act(self.runs[index], action, day, *args)
        with self.meter.measure("site: read the day's calendar"):
            rows = self.clinic.calendar_rows(day)
        self.clinic.calendar_day(day, rows)

    def _labs(self, day: dt.date) -> None:
        self.env.clock.at(day, 16)
        for code, payloads in sorted(self.lab_queue.pop(day, {}).items()):
            account = next(a for a in self.world.labs if a.lab.code == code)
            for start in range(0, len(payloads), BATCH_LIMIT):
                self._post_batch(account, payloads[start : start + BATCH_LIMIT], day)
        for outbox_id in self.env.broker.take():
            self._work(outbox_id, day)

    def _post_batch(self, account: LabAccount, payloads: list[dict], day: dt.date) -> None:
        answer = account.api.post(
            reverse("ctdna-results-batch"), payloads, expect=200, operation="POST results/batch"
        )
        self.counters.batches_posted += 1
        self.counters.results_posted += answer["created"]
        if answer["failed"]:
            problems = [item for item in answer["results"] if "error" in item]
            self.clinic.fail(day, None, f"lab {account.lab.code} batch refused: {problems[:3]}")

    def _work(self, outbox_id: int, day: dt.date) -> None:
        """The worker: the task body on the published id, then the site learns the outcome."""
        with self.meter.measure("process_outbox_task"):
            if process_outbox_task(outbox_id):
                self.counters.outbox_processed += 1
        row = TriggerOutbox.objects.select_related("step2_trigger").get(pk=outbox_id)
        self.clinic.trigger_outcome(row.patient_id, row.step2_trigger, day)

    # --- used by the clinic ------------------------------------------------------------------

    def queue_result(self, day: dt.date, lab_code: str, payload: dict) -> None:
        if day <= self.last_day:
            self.lab_queue[day][lab_code].append(payload)

    def plan(self, day: dt.date, run: PatientRun, action: str, *args: Any) -> None:
        if day <= self.last_day:
            self.agenda.add(day, run.plan.index, action, run.epoch, *args)
