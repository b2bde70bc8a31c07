"""Calendar items outside the cycle schedule, and the shift of a delayed cycle.

Pure rules: standard library only, dates passed in. Numbers come from the protocol file.

- Locoregional treatment of the primary (PALATINE, DOMAIN.md section 2): planned
  ``locoregional_treatment.planned_after_weeks`` weeks after C1D1 (26 weeks [I], from the
  26-week pathological-response time frame of the registry record [C:P1]), with the protocol's
  window (GAP). Not planned after progression or after the end of the line.
- Survival follow-up (PALATINE primary endpoint: overall-survival rate at 24 months [C:P1]):
  once the patient has left treatment, a contact every ``follow_up.contact_every_weeks`` weeks
  (GAP) from the end of treatment, and one at the landmark (``overall_survival_months``
  calendar months after the Step 1 start), which closes the follow-up.
- Delays (DOMAIN.md 1.2, section 7 rule 1): a cycle whose D1 is delayed shifts every
  cycle-anchored item of that cycle and of the later cycles by the delay; calendar-anchored
  items (imaging, these follow-up items) do not move.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from trial.rules.schedule import (
    Anchor,
    ScheduleParamsError,
    Window,
    add_calendar_months,
)


class FollowUpKind(StrEnum):
    LOCOREGIONAL_TREATMENT = "locoregional_treatment"
    SURVIVAL_CONTACT = "survival_contact"


@dataclass(frozen=True)
class FollowUpItem:
    """A planned item with the same fields as ``trial.rules.schedule.ScheduleItem``."""

    key: str
    kind: FollowUpKind
    cycle: int | None
    cycle_day: int | None
    planned_on: date
    window_opens: date
    window_closes: date
    anchor: Anchor


def _int(block: Mapping[str, Any], key: str, path: str) -> int:
    value = block.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleParamsError(f"{path}.{key}", f"expected an integer >= 1, got {value!r}")
    return value


def _window(block: Mapping[str, Any], path: str) -> Window:
    days = block.get("window_days")
    if not isinstance(days, Mapping):
        raise ScheduleParamsError(f"{path}.window_days", "missing")
    try:
        return Window(before_days=days["before"], after_days=days["after"])
    except (KeyError, ValueError) as exc:
        raise ScheduleParamsError(f"{path}.window_days", str(exc)) from exc


@dataclass(frozen=True)
class LocoregionalParams:
    planned_after_weeks: int
    window: Window

    @classmethod
    def from_protocol(cls, block: Mapping[str, Any]) -> LocoregionalParams:
        path = "locoregional_treatment"
        return cls(_int(block, "planned_after_weeks", path), _window(block, path))


@dataclass(frozen=True)
class SurvivalParams:
    overall_survival_months: int
    contact_every_weeks: int
    window: Window

    @classmethod
    def from_protocol(cls, block: Mapping[str, Any]) -> SurvivalParams:
        path = "follow_up"
        return cls(
            _int(block, "overall_survival_months", path),
            _int(block, "contact_every_weeks", path),
            _window(block, path),
        )


def _item(kind: FollowUpKind, label: str, planned_on: date, window: Window) -> FollowUpItem:
    return FollowUpItem(
        key=f"{kind}:{label}",
        kind=kind,
        cycle=None,
        cycle_day=None,
        planned_on=planned_on,
        window_opens=window.opens_on(planned_on),
        window_closes=window.closes_on(planned_on),
        anchor=Anchor.CALENDAR,
    )


def plan_locoregional(
    *,
    params: LocoregionalParams,
    c1d1: date,
    progression_date: date | None,
    ended_on: date | None,
) -> tuple[FollowUpItem, ...]:
    """The locoregional treatment item, unless progression or the line's end comes first."""
    planned_on = c1d1 + timedelta(weeks=params.planned_after_weeks)
    for stop in (progression_date, ended_on):
        if stop is not None and planned_on > stop:
            return ()
    label = f"W{params.planned_after_weeks}"
    return (_item(FollowUpKind.LOCOREGIONAL_TREATMENT, label, planned_on, params.window),)


def plan_survival_contacts(
    *, params: SurvivalParams, step1_start: date, follow_up_from: date
) -> tuple[FollowUpItem, ...]:
    """Contacts every ``contact_every_weeks`` from ``follow_up_from`` (the end of treatment),
    before the landmark, then the landmark itself (``overall_survival_months`` after the Step 1
    start). Nothing when treatment ended after the landmark."""
    landmark = add_calendar_months(step1_start, params.overall_survival_months)
    if follow_up_from > landmark:
        return ()
    items = []
    step = timedelta(weeks=params.contact_every_weeks)
    number = 1
    while (planned_on := follow_up_from + step * number) < landmark:
        items.append(_item(FollowUpKind.SURVIVAL_CONTACT, f"F{number}", planned_on, params.window))
        number += 1
    label = f"M{params.overall_survival_months}"
    items.append(_item(FollowUpKind.SURVIVAL_CONTACT, label, landmark, params.window))
    return tuple(items)


def shift_cycle_items(items: Iterable[Any], *, from_cycle: int, days: int) -> Iterator[Any]:
    """Shift the cycle-anchored items of cycle ``from_cycle`` and later by ``days`` days.

    ``items`` are frozen dataclasses with ``cycle``, ``anchor``, ``planned_on`` and window
    dates (``trial.rules.schedule.ScheduleItem``); other items are returned unchanged.
    """
    delta = timedelta(days=days)
    for item in items:
        if item.anchor == Anchor.CYCLE and item.cycle is not None and item.cycle >= from_cycle:
            yield replace(
                item,
                planned_on=item.planned_on + delta,
                window_opens=item.window_opens + delta,
                window_closes=item.window_closes + delta,
            )
        else:
            yield item
