"""The trial simulator: a synthetic multi-site PADA-1 trial driven through the product's own
services, REST API and task bodies under a controlled clock.

``run_simulation`` plans the cohort (:mod:`.cohort`, parameters and sources in
:mod:`.scenario`), sets up the actors (:mod:`.world`) and the surroundings
(:mod:`.environment`), runs the day loop (:mod:`.engine`, :mod:`.clinic`) and returns the
result with its report (:mod:`.report`). ``manage.py simulate`` and ``manage.py seed_demo``
call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TextIO

from trial.models import Patient
from trial.services.protocols import PROTOCOL_DIR, protocol_current_version, protocol_load_file

from .engine import Simulation, SimulationResult
from .environment import simulation_environment
from .progress import Progress
from .report import Report, build_report
from .scenario import REFERENCE, RunConfig, Scenario
from .world import SimulationError, Staffing, existing_staffing, synthetic_staffing

__all__ = [
    "REFERENCE",
    "Report",
    "RunConfig",
    "Scenario",
    "SimulationError",
    "SimulationResult",
    "Staffing",
    "existing_staffing",
    "run_simulation",
]


def _protocol():
    try:
        return protocol_current_version("PADA1")
    except Exception:  # not loaded yet: load the shipped file, as load_protocol does
        return protocol_load_file(PROTOCOL_DIR / "pada1.yaml").version


def run_simulation(
    config: RunConfig,
    *,
    last_day: dt.date,
    staffing: Callable[[], Staffing] | None = None,
    stream: TextIO | None = None,
) -> tuple[SimulationResult, Report]:
    """Run the simulated trial ending on ``last_day`` and build its report.

    ``staffing`` creates the sites and staff (inside the run's environment); by default
    synthetic sites SIM01.. with their staff. The PADA-1 protocol must have no patients yet:
    the report's figures are trial-wide. Raises SimulationError when the product refuses
    something a simulated actor did (with the day and the patient).
    """
    version = _protocol()
    if Patient.objects.filter(protocol_id=version.protocol_id).exists():
        raise SimulationError("PADA-1 already has patients: simulate into an empty trial")
    factory = staffing or (lambda: synthetic_staffing(sites=config.sites, seed=config.seed))
    first_day = last_day - dt.timedelta(days=round(config.scenario.months_to_days(config.months)))
    with simulation_environment(first_day) as env:
        simulation = Simulation(
            config,
            version=version,
            staffing_factory=factory,
            env=env,
            last_day=last_day,
            progress=Progress(stream),
        )
        result = simulation.run()
        report = build_report(result)
    if staffing is not None:
        _restore_work_factor(result.world.staffing)
    return result, report


def _restore_work_factor(staffing: Staffing) -> None:
    """Existing accounts signed during the run with the simulation's work factor: hash their
    password again with the configured hasher (Django would do it at their next login)."""
    for user in {*staffing.investigators, *staffing.coordinators}:
        user.set_password(staffing.password)
        user.save(update_fields=["password"])
