"""The simulation's surroundings: a controlled clock, an in-process broker, a counting mailbox,
and the settings a synthetic run needs. Every clinical write still goes through the product.

- Clock: ``time_machine`` moves the process's clock to each simulated moment (``tick=False``),
  so ``timezone.now()``/``localdate()``, ``auto_now`` timestamps, token expiry and throttling
  all see simulated time.
- Broker: a rising result's outbox row is sent after commit by
  ``monitoring.services.outbox._publish``; during the run that transport hands the row's id to
  :class:`InProcessBroker` instead of Redis, and the engine runs the task body
  (``process_outbox_task``) on it as a worker would. Nothing reaches a shared broker.
- Mail: reminders and notifications are built and "sent" through Django's mail API into
  :class:`CountingEmailBackend`, which counts them (a real run would send thousands).
- Settings: the lab and user throttles are raised (a simulated day's traffic arrives within one
  simulated second); password hashing keeps PBKDF2-SHA256 with 1,000 iterations
  (:class:`SimulationPasswordHasher`): investigators sign every dose decision, randomization
  and crossover with their password, and 1,000,000 iterations (~0.35 s each) would dominate
  the run. Hashes written during the run are upgraded by Django to the normal work factor at
  the account's next real login (``must_update``). Requests are addressed to a host added to
  ``ALLOWED_HOSTS`` for the run and sent as HTTPS.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.mail.backends.base import BaseEmailBackend
from django.test.utils import override_settings

from monitoring.services import outbox

API_HOST = "simulation.invalid"
SIMULATION_THROTTLE_RATE = "1000000/min"


class SimulationPasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2-SHA256 (same algorithm name, so hashes stay valid) at a simulation work factor."""

    iterations = 1_000


class CountingEmailBackend(BaseEmailBackend):
    """Counts the messages Django would send (the run's mailbox)."""

    messages = 0
    recipients = 0

    def send_messages(self, email_messages):
        for message in email_messages:
            type(self).messages += 1
            type(self).recipients += len(message.recipients())
        return len(email_messages)

    @classmethod
    def reset(cls) -> None:
        cls.messages = cls.recipients = 0


@dataclass
class InProcessBroker:
    """Outbox ids published after commit, waiting for the simulated worker."""

    queue: list[int] = field(default_factory=list)
    published: int = 0

    def publish(self, outbox_id: int) -> None:
        self.queue.append(outbox_id)
        self.published += 1

    def take(self) -> list[int]:
        taken, self.queue = self.queue, []
        return taken


class Clock:
    """Moves the process clock to a simulated day and hour (local time of the trial)."""

    def __init__(self, traveller, zone: ZoneInfo):
        self._traveller = traveller
        self._zone = zone
        self.today: dt.date | None = None

    def at(self, day: dt.date, hour: int) -> None:
        self._traveller.move_to(dt.datetime.combine(day, dt.time(hour), tzinfo=self._zone))
        self.today = day


def _settings_for_the_run() -> dict:
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {
        **rest.get("DEFAULT_THROTTLE_RATES", {}),
        "lab": SIMULATION_THROTTLE_RATE,
        "user": SIMULATION_THROTTLE_RATE,
    }
    return {
        "REST_FRAMEWORK": rest,
        "PASSWORD_HASHERS": [
            "monitoring.simulation.environment.SimulationPasswordHasher",
            *settings.PASSWORD_HASHERS,  # to verify the existing hashes (then replaced)
        ],
        "EMAIL_BACKEND": "monitoring.simulation.environment.CountingEmailBackend",
        "ALLOWED_HOSTS": [*settings.ALLOWED_HOSTS, API_HOST],
    }


@contextmanager
def _in_process_transport(broker: InProcessBroker) -> Iterator[None]:
    original = outbox._publish
    outbox._publish = broker.publish  # the transport only; the outbox row and claim are real
    try:
        yield
    finally:
        outbox._publish = original


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """The access log would print one line per simulated request."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass
class Environment:
    clock: Clock
    broker: InProcessBroker


@contextmanager
def simulation_environment(first_day: dt.date) -> Iterator[Environment]:
    """Everything above, from 06:00 on ``first_day``; restored on exit."""
    try:
        import time_machine  # a development dependency: only the simulator needs it
    except ImportError as error:
        from .world import SimulationError

        raise SimulationError(
            "the simulator needs time-machine: pip install -e '.[dev]'"
        ) from error

    zone = ZoneInfo(settings.TIME_ZONE)
    start = dt.datetime.combine(first_day, dt.time(6), tzinfo=zone)
    broker = InProcessBroker()
    CountingEmailBackend.reset()
    with (
        time_machine.travel(start, tick=False) as traveller,
        override_settings(**_settings_for_the_run()),
        _in_process_transport(broker),
        _quiet("trial.request"),
    ):
        clock = Clock(traveller, zone)
        clock.today = first_day
        yield Environment(clock=clock, broker=broker)
