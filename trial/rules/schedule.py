"""The calendar of a treatment line: what is planned when, in which window, and its status.

Pure rules: standard library only, no clock (``today`` is passed in), frozen dataclasses in
and out. Every number comes from the protocol file's ``schedule:`` block and
``cycle_length_days``; facts and their evidence tags are in ``../shared/DOMAIN.md``.

What is planned
- Cycles (DOMAIN.md 1.2, rule 1): the planned CnD1 is the actual C(n-1)D1 plus the cycle
  length; cycles after the last started one are chained from it. C1D1 is the actual start when
  known, else the planned one. A delayed cycle therefore shifts every later cycle-anchored item.
- Cycle visits: on the protocol's ``cycle_day`` (D1) of every cycle.
- Blood counts [C:L2][C:L3] (DOMAIN.md 3, rules 4 and 5): before C1D1, on D1 of every cycle,
  on D15 of cycles 1 and 2. The label's reduced frequency ("if the maximum neutropenia grade in
  the first 6 cycles is 1-2: CBC every 3 months thereafter, before the start of a cycle")
  applies only when the protocol enables it and the maximum grade over cycles 1-6 is known and
  at most ``max_neutropenia_grade`` (grade 0 included). Then the routine counts of later cycles
  are planned on D1 of cycle ``after_cycle + 1`` and every ``every_cycles`` cycles after it:
  C7, C10, C13, ... (3 cycles of 28 days = 84 days, the "every 3 months"; C7D1 is the first
  cycle start after the assessment period, so no gap opens right after it). Until the grade is
  known, counts stay on D1 of every cycle.
- ctDNA [C:S2][C:S5][C:S6] (DOMAIN.md 1.4, rule 16): baseline before C1D1, then D1 of cycle
  ``first_cycle`` and every ``every_cycles`` cycles (C2, C4, C6, ...), until progression.
  A protocol without a ``ctdna`` block (PALATINE) plans none.
- Imaging (DOMAIN.md 1.5-1.6; frequency [GAP], a protocol parameter): every ``every_weeks``
  weeks from C1D1 (keys W8, W16, ...). Calendar-anchored on the actual C1D1: cycle delays do
  not move it. Planned up to the horizon (the D1 of the last planned cycle plus the cycle
  length, exclusive), until progression. No baseline scan is planned (screening imaging
  belongs to eligibility).
- QoL [C:seed 003] (DOMAIN.md 1.6, rule 25): baseline at C1D1 when the protocol asks for it,
  then D1 of cycle ``first_cycle`` and every ``every_cycles`` cycles, until progression (when
  ``until_progression``) or ``until_months_from_step1`` calendar months after the Step 1
  start, whichever comes first. An item planned on or after that limit is not created. The
  limit counts from ``step1_start`` (Step 1 start of the patient, which precedes a later
  line's C1D1), else from this calendar's C1D1.
- Fulvestrant injections [C:S8][C:L1] (DOMAIN.md 1.2, rule 22), for regimens with
  fulvestrant: days 1 and 15 of the first fulvestrant cycle, then day 1 of each later cycle.

Stops: "until progression" keeps an item planned on the progression date and drops those
after it; progression stops ctDNA, imaging and QoL (when the protocol says so), never cycle
visits, blood counts or injections. ``ended_on`` (end of the treatment line) drops every item
planned after it.

Windows: every window is a protocol parameter (``window_days``, marked GAP in the protocol
files); this module holds no window constant. Baseline items are planned on C1D1 with the
baseline window (pada1.yaml: blood counts 14 days before, ctDNA 28 days before, none after).

Status: ``classify`` gives upcoming (before the window opens), due (inside the window, both
ends included), overdue (after it closes, not done) or done (a completion date is recorded).
``is_missed`` decides when an overdue item becomes missed: ``grace_days`` after its window
closes, ``grace_days`` being ``schedule.reminders.missed_grace_days`` (0 when absent, so an
item is missed the day after its window closes). A held cycle's D1 items turn overdue once
their window closes and move to the actual start when the cycle starts: while a hold is open,
the caller does not record them as missed.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import chain
from typing import Any

_SCHEDULE_BLOCKS = frozenset({"cycle_visit", "blood_count", "ctdna", "imaging", "qol", "reminders"})
_MAX_CTCAE_GRADE = 5
_FULVESTRANT = "fulvestrant"  # the drug code in the protocol's regimens


class ScheduleError(ValueError):
    """Base of the calendar's errors; ``code`` is stable."""

    code = "invalid_schedule"


class ScheduleParamsError(ScheduleError):
    """The protocol's schedule is missing a key or holds an invalid value at ``path``."""

    code = "invalid_schedule_params"

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class CalendarInputError(ScheduleError):
    """The facts passed to ``build_calendar`` are inconsistent."""

    code = "invalid_calendar_input"


class ItemKind(StrEnum):
    CYCLE_VISIT = "cycle_visit"
    BLOOD_COUNT = "blood_count"
    CTDNA = "ctdna"
    IMAGING = "imaging"
    QOL = "qol"
    FULVESTRANT_INJECTION = "fulvestrant_injection"


class Anchor(StrEnum):
    CYCLE = "cycle"  # moves with the actual cycle starts
    CALENDAR = "calendar"  # fixed from the actual C1D1


class ItemStatus(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    DONE = "done"


_KIND_ORDER = {kind: index for index, kind in enumerate(ItemKind)}


@dataclass(frozen=True)
class Window:
    """Days allowed before and after the planned date, both ends included."""

    before_days: int
    after_days: int

    def __post_init__(self) -> None:
        for name in ("before_days", "after_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Window.{name} must be a non-negative integer, got {value!r}")

    def opens_on(self, planned_on: date) -> date:
        return planned_on - timedelta(days=self.before_days)

    def closes_on(self, planned_on: date) -> date:
        return planned_on + timedelta(days=self.after_days)


@dataclass(frozen=True)
class CycleVisitParams:
    cycle_day: int
    window: Window


@dataclass(frozen=True)
class ReducedFrequency:
    """The label's reduced CBC frequency once cycles 1..``after_cycle`` were well tolerated."""

    after_cycle: int
    max_neutropenia_grade: int
    every_cycles: int

    def counts_in_cycle(self, cycle: int, max_grade: int | None) -> bool:
        """Whether cycle ``cycle`` has its routine counts, given the maximum grade (or None)."""
        if max_grade is None or max_grade > self.max_neutropenia_grade:
            return True
        if cycle <= self.after_cycle:
            return True
        return (cycle - self.after_cycle - 1) % self.every_cycles == 0


@dataclass(frozen=True)
class BloodCountParams:
    baseline_window: Window
    cycle_days: tuple[int, ...]
    extra_days_by_cycle: tuple[tuple[int, tuple[int, ...]], ...]
    window: Window
    reduced_frequency: ReducedFrequency | None

    def extra_days(self, cycle: int) -> tuple[int, ...]:
        return dict(self.extra_days_by_cycle).get(cycle, ())

    def routine_days(self, cycle: int, max_grade: int | None) -> tuple[int, ...]:
        reduced = self.reduced_frequency
        if reduced is None or reduced.counts_in_cycle(cycle, max_grade):
            return self.cycle_days
        return ()


@dataclass(frozen=True)
class CtdnaParams:
    baseline_window: Window
    first_cycle: int
    every_cycles: int
    window: Window


@dataclass(frozen=True)
class ImagingParams:
    every_weeks: int
    modalities: tuple[str, ...]
    window: Window


@dataclass(frozen=True)
class QolParams:
    instrument: str
    baseline: bool
    first_cycle: int
    every_cycles: int
    until_progression: bool
    until_months_from_step1: int | None
    window: Window


@dataclass(frozen=True)
class ReminderParams:
    lead_days: int = 0
    missed_grace_days: int = 0


@dataclass(frozen=True)
class ScheduleParams:
    """Typed view of a protocol's ``schedule:`` block and its cycle length."""

    cycle_length_days: int
    cycle_visit: CycleVisitParams
    blood_count: BloodCountParams
    ctdna: CtdnaParams | None
    imaging: ImagingParams | None
    qol: QolParams | None
    reminders: ReminderParams

    @classmethod
    def from_protocol(cls, schedule: Mapping[str, Any], cycle_length_days: int) -> ScheduleParams:
        """Build the params from the protocol file's ``schedule:`` mapping.

        ``cycle_visit`` and ``blood_count`` are required; ``ctdna``, ``imaging``, ``qol`` and
        ``reminders`` are optional (absent: nothing of that kind is planned; reminders default
        to 0 days). Unknown blocks are refused so that a misspelt block never silently drops an
        assessment. Cycle numbers used as keys may be integers or decimal strings (a protocol
        stored as JSON has string keys).

        Raises ScheduleParamsError naming the path of the first missing or invalid value.
        """
        length = _as_int(cycle_length_days, "cycle_length_days", minimum=1)
        block = _as_mapping(schedule, "schedule")
        unknown = sorted(str(key) for key in block if key not in _SCHEDULE_BLOCKS)
        if unknown:
            raise ScheduleParamsError("schedule", f"unknown block(s): {', '.join(unknown)}")
        return cls(
            cycle_length_days=length,
            cycle_visit=_cycle_visit_params(_sub(block, "cycle_visit", "schedule"), length),
            blood_count=_blood_count_params(_sub(block, "blood_count", "schedule"), length),
            ctdna=_ctdna_params(block["ctdna"]) if "ctdna" in block else None,
            imaging=_imaging_params(block["imaging"]) if "imaging" in block else None,
            qol=_qol_params(block["qol"]) if "qol" in block else None,
            reminders=_reminder_params(block.get("reminders", {})),
        )


# --- parsing helpers --------------------------------------------------------------------------


def _get(block: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in block:
        raise ScheduleParamsError(f"{path}.{key}", "missing")
    return block[key]


def _as_mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScheduleParamsError(path, f"expected a mapping, got {type(value).__name__}")
    return value


def _sub(block: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    return _as_mapping(_get(block, key, path), f"{path}.{key}")


def _as_int(value: object, path: str, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleParamsError(path, f"expected an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ScheduleParamsError(path, f"must be {bounds}, got {value}")
    return value


def _as_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ScheduleParamsError(path, f"expected true or false, got {value!r}")
    return value


def _as_text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleParamsError(path, f"expected a non-empty string, got {value!r}")
    return value


def _as_list(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise ScheduleParamsError(path, f"expected a non-empty list, got {value!r}")
    return value


def _as_days(value: object, path: str, cycle_length_days: int) -> tuple[int, ...]:
    items = _as_list(value, path)
    days = [
        _as_int(item, f"{path}[{index}]", minimum=1, maximum=cycle_length_days)
        for index, item in enumerate(items)
    ]
    if len(set(days)) != len(days):
        raise ScheduleParamsError(path, f"repeated cycle day in {days}")
    return tuple(sorted(days))


def _as_cycle_number(key: object, path: str) -> int:
    if isinstance(key, str) and key.isdecimal():
        key = int(key)
    return _as_int(key, path, minimum=1)


def _window(block: Mapping[str, Any], path: str) -> Window:
    days = _sub(block, "window_days", path)
    path = f"{path}.window_days"
    return Window(
        before_days=_as_int(_get(days, "before", path), f"{path}.before", minimum=0),
        after_days=_as_int(_get(days, "after", path), f"{path}.after", minimum=0),
    )


def _expect(block: Mapping[str, Any], key: str, path: str, expected: str) -> None:
    value = _get(block, key, path)
    if value != expected:
        raise ScheduleParamsError(f"{path}.{key}", f"only {expected!r} is supported, got {value!r}")


def _cycle_visit_params(block: Mapping[str, Any], length: int) -> CycleVisitParams:
    path = "schedule.cycle_visit"
    day = _get(block, "cycle_day", path)
    return CycleVisitParams(
        cycle_day=_as_int(day, f"{path}.cycle_day", minimum=1, maximum=length),
        window=_window(block, path),
    )


def _extra_days(value: object, path: str, length: int) -> tuple[tuple[int, tuple[int, ...]], ...]:
    by_cycle = _as_mapping(value, path)
    pairs = {
        _as_cycle_number(cycle, f"{path}.{cycle}"): _as_days(days, f"{path}.{cycle}", length)
        for cycle, days in by_cycle.items()
    }
    return tuple(sorted(pairs.items()))


def _reduced_frequency(value: object, path: str) -> ReducedFrequency | None:
    block = _as_mapping(value, path)
    if not _as_bool(_get(block, "enabled", path), f"{path}.enabled"):
        return None
    grade = _get(block, "max_neutropenia_grade", path)
    return ReducedFrequency(
        after_cycle=_as_int(_get(block, "after_cycle", path), f"{path}.after_cycle", minimum=1),
        max_neutropenia_grade=_as_int(
            grade, f"{path}.max_neutropenia_grade", minimum=0, maximum=_MAX_CTCAE_GRADE - 1
        ),
        every_cycles=_as_int(_get(block, "every_cycles", path), f"{path}.every_cycles", minimum=1),
    )


def _blood_count_params(block: Mapping[str, Any], length: int) -> BloodCountParams:
    path = "schedule.blood_count"
    reduced = block.get("reduced_frequency")
    return BloodCountParams(
        baseline_window=_window(_sub(block, "before_c1d1", path), f"{path}.before_c1d1"),
        cycle_days=_as_days(_get(block, "cycle_days", path), f"{path}.cycle_days", length),
        extra_days_by_cycle=_extra_days(
            _get(block, "extra_days_by_cycle", path), f"{path}.extra_days_by_cycle", length
        ),
        window=_window(block, path),
        reduced_frequency=(
            None if reduced is None else _reduced_frequency(reduced, f"{path}.reduced_frequency")
        ),
    )


def _ctdna_params(value: object) -> CtdnaParams:
    path = "schedule.ctdna"
    block = _as_mapping(value, path)
    _expect(block, "until", path, "progression")
    return CtdnaParams(
        baseline_window=_window(_sub(block, "baseline", path), f"{path}.baseline"),
        first_cycle=_as_int(_get(block, "first_cycle", path), f"{path}.first_cycle", minimum=1),
        every_cycles=_as_int(_get(block, "every_cycles", path), f"{path}.every_cycles", minimum=1),
        window=_window(block, path),
    )


def _imaging_params(value: object) -> ImagingParams:
    path = "schedule.imaging"
    block = _as_mapping(value, path)
    _expect(block, "from", path, "c1d1")
    modalities = _as_list(_get(block, "modality", path), f"{path}.modality")
    return ImagingParams(
        every_weeks=_as_int(_get(block, "every_weeks", path), f"{path}.every_weeks", minimum=1),
        modalities=tuple(
            _as_text(item, f"{path}.modality[{index}]") for index, item in enumerate(modalities)
        ),
        window=_window(block, path),
    )


def _qol_params(value: object) -> QolParams:
    path = "schedule.qol"
    block = _as_mapping(value, path)
    months = block.get("until_months_from_step1")
    return QolParams(
        instrument=_as_text(_get(block, "instrument", path), f"{path}.instrument"),
        baseline=_as_bool(_get(block, "baseline", path), f"{path}.baseline"),
        first_cycle=_as_int(_get(block, "first_cycle", path), f"{path}.first_cycle", minimum=1),
        every_cycles=_as_int(_get(block, "every_cycles", path), f"{path}.every_cycles", minimum=1),
        until_progression=_as_bool(
            _get(block, "until_progression", path), f"{path}.until_progression"
        ),
        until_months_from_step1=(
            None
            if months is None
            else _as_int(months, f"{path}.until_months_from_step1", minimum=1)
        ),
        window=_window(block, path),
    )


def _reminder_params(value: object) -> ReminderParams:
    path = "schedule.reminders"
    block = _as_mapping(value, path)
    return ReminderParams(
        lead_days=_as_int(block.get("lead_days", 0), f"{path}.lead_days", minimum=0),
        missed_grace_days=_as_int(
            block.get("missed_grace_days", 0), f"{path}.missed_grace_days", minimum=0
        ),
    )


# --- fulvestrant dosing -----------------------------------------------------------------------


def dosing_days(
    *, first_cycle_days: Sequence[int], cycle_days_list: Sequence[int], is_first_cycle: bool
) -> tuple[int, ...]:
    """Cycle days of an injection: ``first_cycle_days`` in the drug's first cycle, else
    ``cycle_days_list``. ``first_cycle_days`` is the complete list for that cycle (PADA-1's
    fulvestrant: [1, 15] then [1], i.e. label days 1, 15, 29, then monthly [C:S8][C:L1]).
    """
    return tuple(sorted(set(first_cycle_days if is_first_cycle else cycle_days_list)))


@dataclass(frozen=True)
class InjectionPlan:
    """Fulvestrant injections of a treatment line, from the cycle where the drug starts."""

    first_cycle: int
    first_cycle_days: tuple[int, ...]
    cycle_days_list: tuple[int, ...]
    window: Window

    def days_in_cycle(self, cycle: int) -> tuple[int, ...]:
        if cycle < self.first_cycle:
            return ()
        return dosing_days(
            first_cycle_days=self.first_cycle_days,
            cycle_days_list=self.cycle_days_list,
            is_first_cycle=cycle == self.first_cycle,
        )

    @classmethod
    def from_regimen(
        cls,
        regimen: Mapping[str, Any],
        *,
        first_cycle: int,
        window: Window,
        cycle_length_days: int,
    ) -> InjectionPlan | None:
        """The plan of the regimen's fulvestrant component, or None when it has none.

        ``first_cycle`` is the number, in this calendar, of the first cycle with fulvestrant.
        The protocol gives no injection window: the caller passes one (the cycle visit window
        is the natural choice, as injections are given at a visit).
        Raises ScheduleParamsError on a malformed component.
        """
        path = "regimen.components"
        components = _as_list(_get(regimen, "components", "regimen"), path)
        for index, component in enumerate(components):
            block = _as_mapping(component, f"{path}[{index}]")
            if block.get("drug") == _FULVESTRANT:
                where = f"{path}[{index}]"
                return cls._from_component(block, where, first_cycle, window, cycle_length_days)
        return None

    @classmethod
    def _from_component(
        cls, block: Mapping[str, Any], path: str, first_cycle: int, window: Window, length: int
    ) -> InjectionPlan:
        first_days = _get(block, "first_cycle_days", path)
        later_days = _get(block, "cycle_days_list", path)
        return cls(
            first_cycle=_as_int(first_cycle, "first_cycle", minimum=1),
            first_cycle_days=_as_days(first_days, f"{path}.first_cycle_days", length),
            cycle_days_list=_as_days(later_days, f"{path}.cycle_days_list", length),
            window=window,
        )


# --- the calendar -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCycle:
    number: int
    d1: date
    started: bool

    def day(self, cycle_day: int) -> date:
        return self.d1 + timedelta(days=cycle_day - 1)


@dataclass(frozen=True)
class ScheduleItem:
    """One planned assessment; ``key`` is its stable identity across recomputations."""

    key: str
    kind: ItemKind
    cycle: int | None
    cycle_day: int | None
    planned_on: date
    window_opens: date
    window_closes: date
    anchor: Anchor


def add_calendar_months(start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months; the day is clamped to the month's end."""
    year, month_index = divmod(start.month - 1 + months, 12)
    year += start.year
    last_day = calendar.monthrange(year, month_index + 1)[1]
    return date(year, month_index + 1, min(start.day, last_day))


def plan_cycles(
    *,
    cycle_length_days: int,
    planned_c1d1: date,
    cycle_starts: Mapping[int, date],
    horizon_cycles: int,
) -> tuple[PlannedCycle, ...]:
    """Started cycles at their actual D1, then ``horizon_cycles`` cycles chained from the last.

    With no cycle started, C1 is planned on ``planned_c1d1`` and counts in the horizon.
    Raises CalendarInputError when cycle numbers are not 1..n or starts do not increase.
    """
    _check_positive(cycle_length_days, "cycle_length_days")
    _check_positive(horizon_cycles, "horizon_cycles")
    _check_date(planned_c1d1, "planned_c1d1")
    cycles = [PlannedCycle(number, d1, started=True) for number, d1 in _sorted_starts(cycle_starts)]
    if not cycles:
        cycles.append(PlannedCycle(1, planned_c1d1, started=False))
    ahead = horizon_cycles - (0 if cycles[0].started else 1)
    step = timedelta(days=cycle_length_days)
    for _ in range(ahead):
        cycles.append(PlannedCycle(cycles[-1].number + 1, cycles[-1].d1 + step, started=False))
    return tuple(cycles)


def _sorted_starts(cycle_starts: Mapping[int, date]) -> list[tuple[int, date]]:
    if not all(type(number) is int for number in cycle_starts):
        raise CalendarInputError(
            f"cycle_starts keys must be cycle numbers, got {list(cycle_starts)}"
        )
    starts = sorted(cycle_starts.items())
    numbers = [number for number, _ in starts]
    if numbers != list(range(1, len(starts) + 1)):
        raise CalendarInputError(f"cycle_starts must number cycles 1..n, got {numbers}")
    for number, d1 in starts:
        _check_date(d1, f"cycle_starts[{number}]")
    for (_, earlier), (number, later) in zip(starts, starts[1:], strict=False):
        if later <= earlier:
            raise CalendarInputError(f"cycle {number} starts on {later}, not after {earlier}")
    return starts


def _check_date(value: object, name: str) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise CalendarInputError(f"{name} must be a date, got {value!r}")


def _check_optional_date(value: object, name: str) -> None:
    if value is not None:
        _check_date(value, name)


def _check_positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CalendarInputError(f"{name} must be a positive integer, got {value!r}")


def _check_injections(plan: InjectionPlan | None, length: int) -> None:
    if plan is None:
        return
    days = plan.first_cycle_days + plan.cycle_days_list
    if not days or min(days) < 1 or max(days) > length:
        raise CalendarInputError(f"injection days {days} must lie within the {length}-day cycle")


def _check_grade(grade: object, params: ScheduleParams, started_cycles: int) -> None:
    if grade is None:
        return
    if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= _MAX_CTCAE_GRADE:
        raise CalendarInputError(f"neutropenia grade must be 0-{_MAX_CTCAE_GRADE}, got {grade!r}")
    reduced = params.blood_count.reduced_frequency
    if reduced is not None and started_cycles < reduced.after_cycle:
        raise CalendarInputError(
            f"the maximum neutropenia grade over cycles 1-{reduced.after_cycle} cannot be known "
            f"when {started_cycles} cycle(s) have started"
        )


@dataclass(frozen=True)
class _Context:
    params: ScheduleParams
    cycles: tuple[PlannedCycle, ...]
    c1d1: date
    horizon: date
    max_grade: int | None
    progression_date: date | None
    ended_on: date | None
    qol_limit: date | None


def build_calendar(
    *,
    params: ScheduleParams,
    planned_c1d1: date,
    cycle_starts: Mapping[int, date],
    neutropenia_max_grade_c1_to_c6: int | None,
    progression_date: date | None,
    step1_start: date | None,
    horizon_cycles: int = 1,
    ended_on: date | None,
    fulvestrant: InjectionPlan | None = None,
) -> tuple[ScheduleItem, ...]:
    """Every item of the line's calendar, sorted by planned date, kind, baseline first, key.

    ``cycle_starts`` maps cycle numbers 1..n to the actual D1 of the started cycles.
    ``neutropenia_max_grade_c1_to_c6`` is None until cycles 1-6 are complete.
    ``step1_start`` is the patient's actual Step 1 start (QoL limit); None: this C1D1.
    ``horizon_cycles`` (>= 1) cycles are planned after the last started one.
    ``fulvestrant`` adds the injections of a regimen with fulvestrant.
    Raises CalendarInputError on inconsistent facts (see ``plan_cycles``; grade out of 0-5
    or given before cycle 6 has started; a datetime where a date is expected).
    """
    _check_optional_date(progression_date, "progression_date")
    _check_optional_date(step1_start, "step1_start")
    _check_optional_date(ended_on, "ended_on")
    _check_injections(fulvestrant, params.cycle_length_days)
    cycles = plan_cycles(
        cycle_length_days=params.cycle_length_days,
        planned_c1d1=planned_c1d1,
        cycle_starts=cycle_starts,
        horizon_cycles=horizon_cycles,
    )
    _check_grade(neutropenia_max_grade_c1_to_c6, params, len(cycle_starts))
    context = _Context(
        params=params,
        cycles=cycles,
        c1d1=cycles[0].d1,
        horizon=cycles[-1].d1 + timedelta(days=params.cycle_length_days),
        max_grade=neutropenia_max_grade_c1_to_c6,
        progression_date=progression_date,
        ended_on=ended_on,
        qol_limit=_qol_limit(params.qol, step1_start or cycles[0].d1),
    )
    items = chain(
        _cycle_visits(context),
        _blood_counts(context),
        _ctdna(context),
        _imaging(context),
        _qol(context),
        _injections(context, fulvestrant),
    )
    kept = (item for item in items if _is_kept(item, context))
    return tuple(sorted(kept, key=_sort_key))


def _sort_key(item: ScheduleItem) -> tuple[date, int, bool, str]:
    # Baselines first among items of the same day and kind.
    return (item.planned_on, _KIND_ORDER[item.kind], item.cycle is not None, item.key)


def _qol_limit(qol: QolParams | None, step1_start: date) -> date | None:
    if qol is None or qol.until_months_from_step1 is None:
        return None
    return add_calendar_months(step1_start, qol.until_months_from_step1)


def _item(
    kind: ItemKind,
    label: str,
    planned_on: date,
    window: Window,
    *,
    cycle: int | None = None,
    cycle_day: int | None = None,
    anchor: Anchor = Anchor.CYCLE,
) -> ScheduleItem:
    return ScheduleItem(
        key=f"{kind}:{label}",
        kind=kind,
        cycle=cycle,
        cycle_day=cycle_day,
        planned_on=planned_on,
        window_opens=window.opens_on(planned_on),
        window_closes=window.closes_on(planned_on),
        anchor=anchor,
    )


def _cycle_item(kind: ItemKind, cycle: PlannedCycle, day: int, window: Window) -> ScheduleItem:
    label = f"C{cycle.number}D{day}"
    return _item(kind, label, cycle.day(day), window, cycle=cycle.number, cycle_day=day)


def _every(cycles: Sequence[PlannedCycle], first: int, every: int) -> Iterator[PlannedCycle]:
    return (c for c in cycles if c.number >= first and (c.number - first) % every == 0)


def _cycle_visits(context: _Context) -> Iterator[ScheduleItem]:
    visit = context.params.cycle_visit
    for cycle in context.cycles:
        yield _cycle_item(ItemKind.CYCLE_VISIT, cycle, visit.cycle_day, visit.window)


def _blood_counts(context: _Context) -> Iterator[ScheduleItem]:
    counts = context.params.blood_count
    yield _item(ItemKind.BLOOD_COUNT, "baseline", context.c1d1, counts.baseline_window)
    for cycle in context.cycles:
        routine = counts.routine_days(cycle.number, context.max_grade)
        for day in sorted(set(routine) | set(counts.extra_days(cycle.number))):
            yield _cycle_item(ItemKind.BLOOD_COUNT, cycle, day, counts.window)


def _ctdna(context: _Context) -> Iterator[ScheduleItem]:
    ctdna = context.params.ctdna
    if ctdna is None:
        return
    yield _item(ItemKind.CTDNA, "baseline", context.c1d1, ctdna.baseline_window)
    for cycle in _every(context.cycles, ctdna.first_cycle, ctdna.every_cycles):
        yield _cycle_item(ItemKind.CTDNA, cycle, 1, ctdna.window)


def _imaging(context: _Context) -> Iterator[ScheduleItem]:
    imaging = context.params.imaging
    if imaging is None:
        return
    week = imaging.every_weeks
    while (planned_on := context.c1d1 + timedelta(weeks=week)) < context.horizon:
        yield _item(
            ItemKind.IMAGING, f"W{week}", planned_on, imaging.window, anchor=Anchor.CALENDAR
        )
        week += imaging.every_weeks


def _qol(context: _Context) -> Iterator[ScheduleItem]:
    qol = context.params.qol
    if qol is None:
        return
    if qol.baseline:
        yield _item(ItemKind.QOL, "baseline", context.c1d1, qol.window)
    for cycle in _every(context.cycles, qol.first_cycle, qol.every_cycles):
        yield _cycle_item(ItemKind.QOL, cycle, 1, qol.window)


def _injections(context: _Context, plan: InjectionPlan | None) -> Iterator[ScheduleItem]:
    if plan is None:
        return
    for cycle in context.cycles:
        for day in plan.days_in_cycle(cycle.number):
            yield _cycle_item(ItemKind.FULVESTRANT_INJECTION, cycle, day, plan.window)


def _stops_at_progression(kind: ItemKind, params: ScheduleParams) -> bool:
    if kind is ItemKind.QOL:
        return params.qol is not None and params.qol.until_progression
    return kind in (ItemKind.CTDNA, ItemKind.IMAGING)


def _is_kept(item: ScheduleItem, context: _Context) -> bool:
    if context.ended_on is not None and item.planned_on > context.ended_on:
        return False
    progression = context.progression_date
    after_progression = progression is not None and item.planned_on > progression
    if after_progression and _stops_at_progression(item.kind, context.params):
        return False
    limit = context.qol_limit
    return not (item.kind is ItemKind.QOL and limit is not None and item.planned_on >= limit)


# --- status -----------------------------------------------------------------------------------


def classify(item: ScheduleItem, *, today: date, done_on: date | None) -> ItemStatus:
    """Status of ``item`` on ``today``: done when a completion date is recorded, else
    upcoming before the window, due inside it (both ends included), overdue after it."""
    if done_on is not None:
        return ItemStatus.DONE
    if today < item.window_opens:
        return ItemStatus.UPCOMING
    if today <= item.window_closes:
        return ItemStatus.DUE
    return ItemStatus.OVERDUE


def is_missed(
    item: ScheduleItem, *, today: date, grace_days: int, done_on: date | None = None
) -> bool:
    """Whether a not-done ``item`` is missed on ``today``: more than ``grace_days`` days after
    its window closed. ``grace_days`` is ``ScheduleParams.reminders.missed_grace_days``.
    Raises CalendarInputError on a negative grace."""
    if isinstance(grace_days, bool) or not isinstance(grace_days, int) or grace_days < 0:
        raise CalendarInputError(f"grace_days must be a non-negative integer, got {grace_days!r}")
    return done_on is None and today > item.window_closes + timedelta(days=grace_days)
