"""Calendar rules: DOMAIN.md 1.2, 1.4, 1.6, 3 and rules 1, 4, 5, 16, 22, 25, on the real
protocol files."""

import copy
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from trial.rules.schedule import (
    Anchor,
    CalendarInputError,
    InjectionPlan,
    ItemKind,
    ItemStatus,
    ReducedFrequency,
    ScheduleItem,
    ScheduleParams,
    ScheduleParamsError,
    Window,
    add_calendar_months,
    build_calendar,
    classify,
    dosing_days,
    is_missed,
    plan_cycles,
)

PROTOCOLS = Path(__file__).resolve().parents[3] / "trial" / "protocols"
C1 = date(2024, 1, 8)
DAY = timedelta(days=1)
CYCLE = timedelta(days=28)


def load_protocol(name):
    with (PROTOCOLS / f"{name}.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


PADA1_PROTOCOL = load_protocol("pada1")
PADA1 = ScheduleParams.from_protocol(
    PADA1_PROTOCOL["schedule"], PADA1_PROTOCOL["cycle_length_days"]
)
PALATINE_PROTOCOL = load_protocol("palatine")
PALATINE = ScheduleParams.from_protocol(
    PALATINE_PROTOCOL["schedule"], PALATINE_PROTOCOL["cycle_length_days"]
)


def starts(count, *, first=C1, delays=None):
    """Actual D1 of cycles 1..count, 28 days apart plus each cycle's delay in days."""
    delays = delays or {}
    result, d1 = {}, first
    for number in range(1, count + 1):
        if number > 1:
            d1 = result[number - 1] + CYCLE
        result[number] = d1 + timedelta(days=delays.get(number, 0))
    return result


def calendar_of(params=PADA1, **facts):
    arguments = {
        "planned_c1d1": C1,
        "cycle_starts": {},
        "neutropenia_max_grade_c1_to_c6": None,
        "progression_date": None,
        "step1_start": None,
        "ended_on": None,
    }
    arguments.update(facts)
    return build_calendar(params=params, **arguments)


def by_key(items):
    return {item.key: item for item in items}


def keys_of(items, kind, *, cycle_day=None):
    return [
        item.key
        for item in items
        if item.kind is kind and (cycle_day is None or item.cycle_day == cycle_day)
    ]


def d1(cycle):
    """C{cycle}D1 with no delay, from C1."""
    return C1 + CYCLE * (cycle - 1)


# --- params from the protocol files -----------------------------------------------------------


def test_pada1_params_follow_the_protocol_file():
    assert PADA1.cycle_length_days == 28
    assert PADA1.cycle_visit.cycle_day == 1
    assert PADA1.cycle_visit.window == Window(3, 3)
    counts = PADA1.blood_count
    assert counts.baseline_window == Window(14, 0)
    assert counts.cycle_days == (1,)
    assert counts.extra_days(1) == (15,)
    assert counts.extra_days(2) == (15,)
    assert counts.extra_days(3) == ()
    assert counts.reduced_frequency == ReducedFrequency(
        after_cycle=6, max_neutropenia_grade=2, every_cycles=3
    )
    assert PADA1.ctdna is not None
    assert (PADA1.ctdna.first_cycle, PADA1.ctdna.every_cycles) == (2, 2)
    assert PADA1.ctdna.baseline_window == Window(28, 0)
    assert PADA1.imaging is not None
    assert PADA1.imaging.every_weeks == 8
    assert PADA1.imaging.modalities == ("CT", "MRI", "bone_scan", "PET_CT")
    assert PADA1.qol is not None
    assert PADA1.qol.instrument == "qlq_c30_v3"
    assert (PADA1.qol.first_cycle, PADA1.qol.every_cycles) == (3, 2)
    assert PADA1.qol.until_months_from_step1 == 24
    assert PADA1.qol.until_progression is True
    assert PADA1.reminders.lead_days == 0
    assert PADA1.reminders.missed_grace_days == 0


def test_palatine_params_have_no_ctdna_and_plan_no_ctdna_items():
    assert PALATINE.ctdna is None
    assert PALATINE.imaging is not None
    assert PALATINE.imaging.every_weeks == 12
    items = calendar_of(PALATINE, cycle_starts=starts(8))
    assert keys_of(items, ItemKind.CTDNA) == []
    assert "blood_count:C2D15" in by_key(items)
    assert keys_of(items, ItemKind.IMAGING) == ["imaging:W12", "imaging:W24"]


def test_cycle_numbers_may_be_string_keys_as_in_a_protocol_stored_as_json():
    schedule = copy.deepcopy(PADA1_PROTOCOL["schedule"])
    schedule["blood_count"]["extra_days_by_cycle"] = {"1": [15], "2": [15]}
    assert ScheduleParams.from_protocol(schedule, 28) == PADA1


def test_optional_blocks_may_be_absent():
    schedule = copy.deepcopy(PADA1_PROTOCOL["schedule"])
    for block in ("ctdna", "imaging", "qol", "reminders"):
        del schedule[block]
    del schedule["blood_count"]["reduced_frequency"]
    params = ScheduleParams.from_protocol(schedule, 28)
    assert (params.ctdna, params.imaging, params.qol) == (None, None, None)
    assert params.blood_count.reduced_frequency is None
    items = calendar_of(params, cycle_starts=starts(3))
    assert {item.kind for item in items} == {ItemKind.CYCLE_VISIT, ItemKind.BLOOD_COUNT}


def test_disabled_reduced_frequency_needs_no_other_key():
    schedule = copy.deepcopy(PADA1_PROTOCOL["schedule"])
    schedule["blood_count"]["reduced_frequency"] = {"enabled": False}
    params = ScheduleParams.from_protocol(schedule, 28)
    assert params.blood_count.reduced_frequency is None


def test_missing_grace_days_are_read_from_the_reminders_block():
    schedule = copy.deepcopy(PADA1_PROTOCOL["schedule"])
    schedule["reminders"]["missed_grace_days"] = 5
    assert ScheduleParams.from_protocol(schedule, 28).reminders.missed_grace_days == 5


def _drop(*path):
    def mutate(schedule):
        block = schedule
        for key in path[:-1]:
            block = block[key]
        del block[path[-1]]

    return mutate


def _put(value, *path):
    def mutate(schedule):
        block = schedule
        for key in path[:-1]:
            block = block[key]
        block[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "path", "problem"),
    [
        (_drop("cycle_visit"), "schedule.cycle_visit", "missing"),
        (_drop("blood_count"), "schedule.blood_count", "missing"),
        (_drop("blood_count", "before_c1d1"), "schedule.blood_count.before_c1d1", "missing"),
        (
            _drop("blood_count", "extra_days_by_cycle"),
            "schedule.blood_count.extra_days_by_cycle",
            "missing",
        ),
        (
            _drop("cycle_visit", "window_days", "after"),
            "schedule.cycle_visit.window_days.after",
            "missing",
        ),
        (
            _put(-1, "cycle_visit", "window_days", "before"),
            "schedule.cycle_visit.window_days.before",
            "must be >= 0",
        ),
        (
            _put(True, "qol", "window_days", "before"),
            "schedule.qol.window_days.before",
            "expected an integer",
        ),
        (
            _put("3", "imaging", "window_days", "after"),
            "schedule.imaging.window_days.after",
            "expected an integer",
        ),
        (
            _put(29, "cycle_visit", "cycle_day"),
            "schedule.cycle_visit.cycle_day",
            "between 1 and 28",
        ),
        (
            _put([29], "blood_count", "cycle_days"),
            "schedule.blood_count.cycle_days[0]",
            "between 1 and 28",
        ),
        (_put([], "blood_count", "cycle_days"), "schedule.blood_count.cycle_days", "non-empty"),
        (
            _put([1, 1], "blood_count", "cycle_days"),
            "schedule.blood_count.cycle_days",
            "repeated",
        ),
        (
            _put({"first": [15]}, "blood_count", "extra_days_by_cycle"),
            "schedule.blood_count.extra_days_by_cycle.first",
            "expected an integer",
        ),
        (
            _put({0: [15]}, "blood_count", "extra_days_by_cycle"),
            "schedule.blood_count.extra_days_by_cycle.0",
            "must be >= 1",
        ),
        (
            _put("yes", "blood_count", "reduced_frequency", "enabled"),
            "schedule.blood_count.reduced_frequency.enabled",
            "true or false",
        ),
        (
            _put(0, "blood_count", "reduced_frequency", "every_cycles"),
            "schedule.blood_count.reduced_frequency.every_cycles",
            "must be >= 1",
        ),
        (
            _put(5, "blood_count", "reduced_frequency", "max_neutropenia_grade"),
            "schedule.blood_count.reduced_frequency.max_neutropenia_grade",
            "between 0 and 4",
        ),
        (
            _drop("blood_count", "reduced_frequency", "after_cycle"),
            "schedule.blood_count.reduced_frequency.after_cycle",
            "missing",
        ),
        (_put("death", "ctdna", "until"), "schedule.ctdna.until", "only 'progression'"),
        (_drop("ctdna", "baseline"), "schedule.ctdna.baseline", "missing"),
        (_put(0, "ctdna", "first_cycle"), "schedule.ctdna.first_cycle", "must be >= 1"),
        (_put("randomization", "imaging", "from"), "schedule.imaging.from", "only 'c1d1'"),
        (_put(0, "imaging", "every_weeks"), "schedule.imaging.every_weeks", "must be >= 1"),
        (_put("CT", "imaging", "modality"), "schedule.imaging.modality", "non-empty list"),
        (_put("yes", "qol", "baseline"), "schedule.qol.baseline", "true or false"),
        (_drop("qol", "until_progression"), "schedule.qol.until_progression", "missing"),
        (_put("", "qol", "instrument"), "schedule.qol.instrument", "non-empty string"),
        (
            _put(0, "qol", "until_months_from_step1"),
            "schedule.qol.until_months_from_step1",
            "must be >= 1",
        ),
        (_put(-1, "reminders", "lead_days"), "schedule.reminders.lead_days", "must be >= 0"),
        (_put([], "qol"), "schedule.qol", "expected a mapping"),
        (_put({}, "QoL"), "schedule", "unknown block(s): QoL"),
    ],
)
def test_invalid_schedule_is_refused_with_its_path(mutate, path, problem):
    schedule = copy.deepcopy(PADA1_PROTOCOL["schedule"])
    mutate(schedule)
    with pytest.raises(ScheduleParamsError) as caught:
        ScheduleParams.from_protocol(schedule, 28)
    assert caught.value.path == path
    assert problem in caught.value.problem
    assert caught.value.code == "invalid_schedule_params"


@pytest.mark.parametrize("length", [0, -28, "28", 28.0, True])
def test_invalid_cycle_length_is_refused(length):
    with pytest.raises(ScheduleParamsError, match="cycle_length_days"):
        ScheduleParams.from_protocol(PADA1_PROTOCOL["schedule"], length)


def test_a_schedule_that_is_not_a_mapping_is_refused():
    with pytest.raises(ScheduleParamsError, match="schedule: expected a mapping"):
        ScheduleParams.from_protocol(["cycle_visit"], 28)


@pytest.mark.parametrize(("before", "after"), [(-1, 0), (0, -1), (1.5, 0), (True, 0)])
def test_window_refuses_negative_or_non_integer_days(before, after):
    with pytest.raises(ValueError, match="non-negative integer"):
        Window(before, after)


# --- cycle anchoring (rule 1; issue: "Cycles and doses") ---------------------------------------


def test_before_any_start_cycle_1_is_planned_on_the_planned_date():
    cycles = plan_cycles(cycle_length_days=28, planned_c1d1=C1, cycle_starts={}, horizon_cycles=1)
    assert [(c.number, c.d1, c.started) for c in cycles] == [(1, C1, False)]


def test_the_actual_c1d1_replaces_the_planned_one():
    actual = C1 + 4 * DAY
    cycles = plan_cycles(
        cycle_length_days=28, planned_c1d1=C1, cycle_starts={1: actual}, horizon_cycles=2
    )
    assert [(c.number, c.d1, c.started) for c in cycles] == [
        (1, actual, True),
        (2, actual + CYCLE, False),
        (3, actual + 2 * CYCLE, False),
    ]


def test_the_next_cycle_is_planned_from_the_actual_start_of_the_previous_one():
    actual = starts(3, delays={2: 5, 3: 2})
    items = by_key(calendar_of(cycle_starts=actual))
    assert items["cycle_visit:C2D1"].planned_on == C1 + CYCLE + 5 * DAY
    assert items["cycle_visit:C3D1"].planned_on == actual[3]
    assert items["cycle_visit:C4D1"].planned_on == actual[3] + CYCLE
    assert items["cycle_visit:C4D1"].window_opens == actual[3] + CYCLE - 3 * DAY
    assert items["cycle_visit:C4D1"].window_closes == actual[3] + CYCLE + 3 * DAY


def test_a_cycle_started_early_inside_its_window_anchors_the_next_one():
    early = {1: C1, 2: C1 + 26 * DAY}
    items = by_key(calendar_of(cycle_starts=early))
    assert items["cycle_visit:C3D1"].planned_on == C1 + 54 * DAY


def test_horizon_plans_that_many_cycles_after_the_last_started_one():
    items = calendar_of(cycle_starts=starts(2), horizon_cycles=3)
    assert keys_of(items, ItemKind.CYCLE_VISIT) == [f"cycle_visit:C{n}D1" for n in range(1, 6)]


@pytest.mark.parametrize(
    ("cycle_starts", "message"),
    [
        ({2: C1}, "1..n"),
        ({1: C1, 3: C1 + 2 * CYCLE}, "1..n"),
        ({1: C1, 2: C1}, "not after"),
        ({1: C1, 2: C1 - DAY}, "not after"),
        ({1: datetime(2024, 1, 8, 9, 0)}, "must be a date"),
        ({"1": C1}, "cycle numbers"),
        ({1: C1, "2": C1 + CYCLE}, "cycle numbers"),
    ],
)
def test_inconsistent_cycle_starts_are_refused(cycle_starts, message):
    with pytest.raises(CalendarInputError, match=message):
        calendar_of(cycle_starts=cycle_starts)


@pytest.mark.parametrize("horizon", [0, -1, True])
def test_horizon_must_be_a_positive_integer(horizon):
    with pytest.raises(CalendarInputError, match="horizon_cycles"):
        calendar_of(horizon_cycles=horizon)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("planned_c1d1", datetime(2024, 1, 8)),
        ("progression_date", "2024-05-01"),
        ("step1_start", datetime(2024, 1, 8)),
        ("ended_on", 20240501),
    ],
)
def test_dates_must_be_dates(name, value):
    with pytest.raises(CalendarInputError, match=name):
        calendar_of(**{name: value})


# --- time travel through 9 cycles with a 7-day delay of C4 -------------------------------------


def _facts_on(today, actual):
    known = {number: d1 for number, d1 in actual.items() if d1 <= today}
    # The worst grade over cycles 1-6 is 2, known once cycle 7 has started.
    grade = 2 if 7 in known else None
    return known, grade


def _done_on(item, today, known):
    """Everything is done on its planned day, except a cycle's items before the cycle starts."""
    if item.planned_on > today or (item.cycle is not None and item.cycle not in known):
        return None
    return item.planned_on


def test_time_travel_nine_cycles_with_cycle_4_delayed_by_a_week():
    actual = starts(9, delays={4: 7})
    undelayed = by_key(calendar_of(cycle_starts=starts(9), neutropenia_max_grade_c1_to_c6=2))
    last_planned = {}
    statuses = defaultdict(list)
    today = C1 - 30 * DAY
    while today <= actual[9] + 40 * DAY:
        known, grade = _facts_on(today, actual)
        items = calendar_of(cycle_starts=known, neutropenia_max_grade_c1_to_c6=grade)
        for item in items:
            # A delay only ever pushes an item later; nothing is pulled earlier.
            assert item.planned_on >= last_planned.get(item.key, item.planned_on)
            last_planned[item.key] = item.planned_on
            status = classify(item, today=today, done_on=_done_on(item, today, known))
            if not statuses[item.key] or statuses[item.key][-1] != status:
                statuses[item.key].append(status)
        today += DAY

    # While C4 is held its D1 visit goes overdue; it is done on the actual start.
    assert statuses["cycle_visit:C4D1"] == [
        ItemStatus.UPCOMING,
        ItemStatus.DUE,
        ItemStatus.OVERDUE,
        ItemStatus.DONE,
    ]
    assert last_planned["cycle_visit:C4D1"] == actual[4] == d1(4) + 7 * DAY
    # Items of cycles 1-3 never needed more than upcoming -> due -> done.
    assert statuses["blood_count:C2D15"] == [ItemStatus.UPCOMING, ItemStatus.DUE, ItemStatus.DONE]

    final = by_key(
        calendar_of(cycle_starts=actual, neutropenia_max_grade_c1_to_c6=2, horizon_cycles=1)
    )
    # The horizon moved with the delay, which brings one more scan into it.
    assert undelayed.keys() <= final.keys()
    assert final.keys() - undelayed.keys() == {"imaging:W40"}
    for key, reference in undelayed.items():
        item = final[key]
        shift = 7 * DAY if item.anchor is Anchor.CYCLE and (item.cycle or 0) >= 4 else 0 * DAY
        assert item.planned_on == reference.planned_on + shift, key
        assert item.window_closes - item.window_opens == (
            reference.window_closes - reference.window_opens
        )

    assert keys_of(final.values(), ItemKind.BLOOD_COUNT, cycle_day=15) == [
        "blood_count:C1D15",
        "blood_count:C2D15",
    ]
    assert keys_of(final.values(), ItemKind.BLOOD_COUNT, cycle_day=1) == [
        f"blood_count:C{n}D1" for n in (1, 2, 3, 4, 5, 6, 7, 10)
    ]
    assert keys_of(final.values(), ItemKind.CTDNA) == [
        "ctdna:baseline",
        *(f"ctdna:C{n}D1" for n in (2, 4, 6, 8, 10)),
    ]
    assert keys_of(final.values(), ItemKind.QOL) == [
        "qol:baseline",
        *(f"qol:C{n}D1" for n in (3, 5, 7, 9)),
    ]
    imaging = [item for item in final.values() if item.kind is ItemKind.IMAGING]
    assert [item.planned_on for item in imaging] == [C1 + k * 8 * 7 * DAY for k in range(1, 6)]
    assert all(item.planned_on < final["cycle_visit:C10D1"].planned_on + CYCLE for item in imaging)


def test_a_delay_shifts_later_cycle_items_but_not_the_imaging_calendar():
    on_time = by_key(calendar_of(cycle_starts=starts(4), horizon_cycles=4))
    delayed = by_key(calendar_of(cycle_starts=starts(4, delays={4: 7}), horizon_cycles=4))
    # The horizon (end of the last planned cycle) moves with the delay: one more scan fits.
    assert delayed.keys() - on_time.keys() == {"imaging:W32"}
    assert on_time.keys() <= delayed.keys()
    for key in ("cycle_visit:C4D1", "ctdna:C6D1", "qol:C7D1", "blood_count:C8D1"):
        assert delayed[key].planned_on - on_time[key].planned_on == 7 * DAY
    for key in ("cycle_visit:C3D1", "ctdna:C2D1", "blood_count:C2D15", "qol:C3D1"):
        assert delayed[key] == on_time[key]
    for key in ("imaging:W8", "imaging:W16", "imaging:W24"):
        assert delayed[key] == on_time[key]
        assert delayed[key].anchor is Anchor.CALENDAR


# --- blood counts (rules 4 and 5) -------------------------------------------------------------


def test_blood_counts_before_c1d1_d1_of_every_cycle_and_d15_of_cycles_1_and_2():
    items = by_key(calendar_of(cycle_starts=starts(5)))
    baseline = items["blood_count:baseline"]
    assert (baseline.planned_on, baseline.window_opens, baseline.window_closes) == (
        C1,
        C1 - 14 * DAY,
        C1,
    )
    assert (baseline.cycle, baseline.cycle_day) == (None, None)
    assert keys_of(items.values(), ItemKind.BLOOD_COUNT) == [
        "blood_count:baseline",
        "blood_count:C1D1",
        "blood_count:C1D15",
        "blood_count:C2D1",
        "blood_count:C2D15",
        "blood_count:C3D1",
        "blood_count:C4D1",
        "blood_count:C5D1",
        "blood_count:C6D1",
    ]
    assert items["blood_count:C1D15"].planned_on == C1 + 14 * DAY
    assert items["blood_count:C2D15"].window_opens == d1(2) + 11 * DAY


def _routine_count_cycles(grade, params=PADA1):
    items = calendar_of(params, cycle_starts=starts(14), neutropenia_max_grade_c1_to_c6=grade)
    return [
        item.cycle for item in items if item.kind is ItemKind.BLOOD_COUNT and item.cycle_day == 1
    ]


@pytest.mark.parametrize("grade", [0, 1, 2])
def test_reduced_frequency_from_c7_every_3_cycles_when_worst_grade_is_at_most_2(grade):
    assert _routine_count_cycles(grade) == [1, 2, 3, 4, 5, 6, 7, 10, 13]


@pytest.mark.parametrize("grade", [None, 3, 4])
def test_counts_stay_on_every_cycle_when_grade_is_3_or_more_or_not_yet_known(grade):
    assert _routine_count_cycles(grade) == list(range(1, 16))


def test_counts_stay_on_every_cycle_when_the_protocol_turns_reduction_off():
    schedule = copy.deepcopy(PADA1_PROTOCOL["schedule"])
    schedule["blood_count"]["reduced_frequency"]["enabled"] = False
    params = ScheduleParams.from_protocol(schedule, 28)
    assert _routine_count_cycles(1, params) == list(range(1, 16))


def test_reduced_frequency_boundaries():
    reduced = ReducedFrequency(after_cycle=6, max_neutropenia_grade=2, every_cycles=3)
    assert [c for c in range(1, 17) if reduced.counts_in_cycle(c, 2)] == [*range(1, 8), 10, 13, 16]
    assert all(reduced.counts_in_cycle(c, 3) for c in range(1, 17))


@pytest.mark.parametrize(("grade", "cycles"), [(6, 7), (-1, 7), (True, 7), (2, 5)])
def test_invalid_or_premature_neutropenia_grade_is_refused(grade, cycles):
    with pytest.raises(CalendarInputError, match="neutropenia grade|cannot be known"):
        calendar_of(cycle_starts=starts(cycles), neutropenia_max_grade_c1_to_c6=grade)


# --- ctDNA (DOMAIN.md 1.4, rule 16) -----------------------------------------------------------


def test_ctdna_at_baseline_then_c2_then_every_2_cycles():
    items = by_key(calendar_of(cycle_starts=starts(8)))
    assert keys_of(items.values(), ItemKind.CTDNA) == [
        "ctdna:baseline",
        "ctdna:C2D1",
        "ctdna:C4D1",
        "ctdna:C6D1",
        "ctdna:C8D1",
    ]
    baseline = items["ctdna:baseline"]
    assert (baseline.planned_on, baseline.window_opens, baseline.window_closes) == (
        C1,
        C1 - 28 * DAY,
        C1,
    )
    draw = items["ctdna:C4D1"]
    assert (draw.cycle, draw.cycle_day, draw.planned_on) == (4, 1, d1(4))
    assert (draw.window_opens, draw.window_closes) == (d1(4) - 7 * DAY, d1(4) + 7 * DAY)


# --- progression and line end -----------------------------------------------------------------


def test_progression_stops_ctdna_imaging_and_qol_after_it_but_keeps_what_precedes():
    progression = d1(5) + 10 * DAY
    items = calendar_of(cycle_starts=starts(8), progression_date=progression)
    for kind in (ItemKind.CTDNA, ItemKind.QOL, ItemKind.IMAGING):
        planned = [item.planned_on for item in items if item.kind is kind]
        assert planned, kind
        assert max(planned) <= progression
    assert keys_of(items, ItemKind.CTDNA)[-1] == "ctdna:C4D1"
    assert keys_of(items, ItemKind.QOL)[-1] == "qol:C5D1"
    # The line has not ended: cycle visits and blood counts go on.
    assert keys_of(items, ItemKind.CYCLE_VISIT)[-1] == "cycle_visit:C9D1"
    assert "blood_count:C9D1" in by_key(items)


def test_an_item_planned_on_the_progression_date_is_kept():
    items = by_key(calendar_of(cycle_starts=starts(6), progression_date=d1(6)))
    assert "ctdna:C6D1" in items
    assert "ctdna:C8D1" not in items


def test_qol_continues_after_progression_when_the_protocol_says_so():
    schedule = copy.deepcopy(PADA1_PROTOCOL["schedule"])
    schedule["qol"]["until_progression"] = False
    params = ScheduleParams.from_protocol(schedule, 28)
    items = calendar_of(params, cycle_starts=starts(8), progression_date=d1(3))
    assert keys_of(items, ItemKind.QOL)[-1] == "qol:C9D1"
    assert keys_of(items, ItemKind.CTDNA)[-1] == "ctdna:C2D1"


def test_line_end_drops_every_item_planned_after_it():
    ended = d1(5) + 10 * DAY
    items = calendar_of(
        cycle_starts=starts(5), progression_date=ended, ended_on=ended, horizon_cycles=3
    )
    assert max(item.planned_on for item in items) <= ended
    assert keys_of(items, ItemKind.CYCLE_VISIT)[-1] == "cycle_visit:C5D1"


def test_an_item_planned_on_the_line_end_is_kept():
    items = by_key(calendar_of(cycle_starts=starts(5), ended_on=d1(5)))
    assert {"cycle_visit:C5D1", "blood_count:C5D1"} <= items.keys()
    assert max(item.planned_on for item in items.values()) == d1(5)


# --- QoL (DOMAIN.md 1.6, rule 25) -------------------------------------------------------------


def test_qol_at_baseline_then_every_2_cycles_from_c3():
    items = by_key(calendar_of(cycle_starts=starts(6)))
    assert keys_of(items.values(), ItemKind.QOL) == [
        "qol:baseline",
        "qol:C3D1",
        "qol:C5D1",
        "qol:C7D1",
    ]
    assert items["qol:baseline"].planned_on == C1
    assert items["qol:baseline"].window_closes == C1 + 7 * DAY


def test_qol_stops_24_calendar_months_after_step1_start():
    items = calendar_of(cycle_starts=starts(30))
    limit = date(2026, 1, 8)
    qol = [item for item in items if item.kind is ItemKind.QOL]
    assert max(item.planned_on for item in qol) < limit
    assert qol[-1].key == "qol:C27D1"  # C27D1 = C1 + 728 days; C29D1 would be after the limit
    assert max(item.planned_on for item in items) > limit  # the other items go on


def test_a_qol_item_planned_on_the_limit_date_is_not_created():
    planned = d1(27)
    on_limit = calendar_of(cycle_starts=starts(27), step1_start=add_calendar_months(planned, -24))
    assert add_calendar_months(add_calendar_months(planned, -24), 24) == planned
    assert keys_of(on_limit, ItemKind.QOL)[-1] == "qol:C25D1"
    day_before = calendar_of(
        cycle_starts=starts(27), step1_start=add_calendar_months(planned, -24) + DAY
    )
    assert keys_of(day_before, ItemKind.QOL)[-1] == "qol:C27D1"


def test_qol_limit_counts_from_step1_start_not_from_a_later_line():
    step1_start = C1 - 400 * DAY
    items = calendar_of(cycle_starts=starts(14), step1_start=step1_start)
    qol = [item for item in items if item.kind is ItemKind.QOL]
    assert max(item.planned_on for item in qol) < add_calendar_months(step1_start, 24)
    assert qol[-1].key == "qol:C11D1"  # C13D1 falls 5 days after the limit


def test_progression_before_the_24_months_stops_qol_first():
    items = calendar_of(cycle_starts=starts(30), progression_date=d1(10))
    assert keys_of(items, ItemKind.QOL)[-1] == "qol:C9D1"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 8), 24, date(2026, 1, 8)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 2, 29), 24, date(2026, 2, 28)),
        (date(2024, 11, 30), 3, date(2025, 2, 28)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 12, 15), 0, date(2024, 12, 15)),
    ],
)
def test_calendar_months_clamp_to_the_end_of_the_month(start, months, expected):
    assert add_calendar_months(start, months) == expected


# --- imaging ----------------------------------------------------------------------------------


def test_imaging_every_8_weeks_from_the_actual_c1d1_up_to_the_horizon():
    actual_c1 = C1 + 3 * DAY
    items = calendar_of(cycle_starts=starts(6, first=actual_c1))
    imaging = [item for item in items if item.kind is ItemKind.IMAGING]
    horizon = actual_c1 + 7 * CYCLE
    assert [item.key for item in imaging] == ["imaging:W8", "imaging:W16", "imaging:W24"]
    assert [item.planned_on for item in imaging] == [
        actual_c1 + timedelta(weeks=w) for w in (8, 16, 24)
    ]
    assert actual_c1 + timedelta(weeks=32) >= horizon
    w8 = imaging[0]
    assert (w8.cycle, w8.cycle_day, w8.anchor) == (None, None, Anchor.CALENDAR)
    assert (w8.window_opens, w8.window_closes) == (w8.planned_on - 7 * DAY, w8.planned_on + 7 * DAY)


def test_imaging_before_treatment_counts_from_the_planned_c1d1():
    items = calendar_of(horizon_cycles=3)
    assert [i.planned_on for i in items if i.kind is ItemKind.IMAGING] == [C1 + 8 * 7 * DAY]


# --- fulvestrant (DOMAIN.md 1.2, rule 22) -----------------------------------------------------


def test_dosing_days_of_the_first_and_later_fulvestrant_cycles():
    kwargs = {"first_cycle_days": [15, 1], "cycle_days_list": [1]}
    assert dosing_days(**kwargs, is_first_cycle=True) == (1, 15)
    assert dosing_days(**kwargs, is_first_cycle=False) == (1,)


def test_fulvestrant_injections_from_the_first_fulvestrant_cycle():
    plan = InjectionPlan.from_regimen(
        PADA1_PROTOCOL["regimens"]["palbo_fulv"],
        first_cycle=3,
        window=PADA1.cycle_visit.window,
        cycle_length_days=28,
    )
    assert plan == InjectionPlan(
        first_cycle=3, first_cycle_days=(1, 15), cycle_days_list=(1,), window=Window(3, 3)
    )
    items = calendar_of(cycle_starts=starts(4), fulvestrant=plan, progression_date=d1(4))
    injections = [item for item in items if item.kind is ItemKind.FULVESTRANT_INJECTION]
    assert [item.key for item in injections] == [
        "fulvestrant_injection:C3D1",
        "fulvestrant_injection:C3D15",
        "fulvestrant_injection:C4D1",
        "fulvestrant_injection:C5D1",
    ]
    # Label days 1, 15, 29 of fulvestrant when cycles are not delayed.
    assert [item.planned_on - d1(3) for item in injections[:3]] == [0 * DAY, 14 * DAY, 28 * DAY]


def test_a_regimen_without_fulvestrant_has_no_injection_plan():
    regimen = PADA1_PROTOCOL["regimens"]["palbo_ai"]
    plan = InjectionPlan.from_regimen(
        regimen, first_cycle=1, window=Window(3, 3), cycle_length_days=28
    )
    assert plan is None


def test_a_malformed_fulvestrant_component_is_refused():
    regimen = copy.deepcopy(PADA1_PROTOCOL["regimens"]["palbo_fulv"])
    regimen["components"][1]["first_cycle_days"] = [1, 29]
    with pytest.raises(ScheduleParamsError, match=r"components\[1\].first_cycle_days\[1\]"):
        InjectionPlan.from_regimen(
            regimen, first_cycle=1, window=Window(3, 3), cycle_length_days=28
        )


def test_an_injection_day_beyond_the_cycle_is_refused():
    plan = InjectionPlan(
        first_cycle=1, first_cycle_days=(1, 30), cycle_days_list=(1,), window=Window(3, 3)
    )
    with pytest.raises(CalendarInputError, match="injection days"):
        calendar_of(fulvestrant=plan)


# --- status -----------------------------------------------------------------------------------


ITEM = ScheduleItem(
    key="ctdna:C4D1",
    kind=ItemKind.CTDNA,
    cycle=4,
    cycle_day=1,
    planned_on=date(2024, 4, 1),
    window_opens=date(2024, 3, 25),
    window_closes=date(2024, 4, 8),
    anchor=Anchor.CYCLE,
)


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (date(2024, 3, 24), ItemStatus.UPCOMING),
        (date(2024, 3, 25), ItemStatus.DUE),
        (date(2024, 4, 1), ItemStatus.DUE),
        (date(2024, 4, 8), ItemStatus.DUE),
        (date(2024, 4, 9), ItemStatus.OVERDUE),
    ],
)
def test_classify_on_the_window_bounds(today, status):
    assert classify(ITEM, today=today, done_on=None) is status


@pytest.mark.parametrize("done_on", [date(2024, 3, 20), date(2024, 4, 1), date(2024, 4, 20)])
def test_a_done_item_is_done_whatever_the_day(done_on):
    assert classify(ITEM, today=date(2024, 5, 1), done_on=done_on) is ItemStatus.DONE


@pytest.mark.parametrize(
    ("today", "grace_days", "missed"),
    [
        (date(2024, 4, 8), 0, False),
        (date(2024, 4, 9), 0, True),
        (date(2024, 4, 10), 2, False),
        (date(2024, 4, 11), 2, True),
    ],
)
def test_missed_after_the_window_and_the_grace(today, grace_days, missed):
    assert is_missed(ITEM, today=today, grace_days=grace_days) is missed


def test_a_done_item_is_never_missed():
    assert not is_missed(ITEM, today=date(2025, 1, 1), grace_days=0, done_on=date(2024, 4, 1))


@pytest.mark.parametrize("grace_days", [-1, True, 1.0])
def test_grace_must_be_a_non_negative_integer(grace_days):
    with pytest.raises(CalendarInputError, match="grace_days"):
        is_missed(ITEM, today=date(2024, 4, 9), grace_days=grace_days)


# --- properties -------------------------------------------------------------------------------


@st.composite
def patients(draw):
    params = draw(st.sampled_from([PADA1, PALATINE]))
    planned_c1d1 = draw(st.dates(min_value=date(2017, 1, 1), max_value=date(2030, 12, 31)))
    started = draw(st.integers(min_value=0, max_value=16))
    delays = draw(st.lists(st.integers(0, 21), min_size=started, max_size=started))
    first = planned_c1d1 + timedelta(days=draw(st.integers(-7, 7)))
    cycle_starts = starts(started, first=first, delays=dict(enumerate(delays, start=1)))
    offset = st.integers(min_value=-30, max_value=600).map(lambda d: planned_c1d1 + DAY * d)
    return {
        "params": params,
        "planned_c1d1": planned_c1d1,
        "cycle_starts": cycle_starts,
        "neutropenia_max_grade_c1_to_c6": (
            draw(st.none() | st.integers(0, 5)) if started >= 6 else None
        ),
        "progression_date": draw(st.none() | offset),
        "step1_start": draw(st.none() | st.integers(-400, 0).map(lambda d: planned_c1d1 + DAY * d)),
        "horizon_cycles": draw(st.integers(1, 3)),
        "ended_on": draw(st.none() | offset),
    }


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@PROPERTY_SETTINGS
@given(patient=patients())
def test_keys_are_unique_and_windows_well_ordered(patient):
    items = build_calendar(**patient)
    assert len({item.key for item in items}) == len(items)
    for item in items:
        assert item.window_opens <= item.planned_on <= item.window_closes
        assert item.key.startswith(f"{item.kind}:")
        assert (item.cycle is None) == (item.cycle_day is None)
    assert [item.planned_on for item in items] == sorted(item.planned_on for item in items)


@PROPERTY_SETTINGS
@given(patient=patients())
def test_cycle_d1s_increase_by_at_least_the_cycle_length(patient):
    items = build_calendar(**{**patient, "ended_on": None})
    visits = [item for item in items if item.kind is ItemKind.CYCLE_VISIT]
    assert [item.cycle for item in visits] == list(range(1, len(visits) + 1))
    length = timedelta(days=patient["params"].cycle_length_days)
    for earlier, later in zip(visits, visits[1:], strict=False):
        assert later.planned_on - earlier.planned_on >= length


@PROPERTY_SETTINGS
@given(patient=patients())
def test_nothing_stopped_by_progression_or_line_end_is_planned_after_it(patient):
    items = build_calendar(**patient)
    progression, ended_on = patient["progression_date"], patient["ended_on"]
    for item in items:
        if progression is not None and item.kind in (
            ItemKind.CTDNA,
            ItemKind.QOL,
            ItemKind.IMAGING,
        ):
            assert item.planned_on <= progression
        if ended_on is not None:
            assert item.planned_on <= ended_on


@PROPERTY_SETTINGS
@given(patient=patients())
def test_qol_never_reaches_24_months_and_imaging_stays_on_its_grid(patient):
    items = build_calendar(**patient)
    visits = [item for item in items if item.kind is ItemKind.CYCLE_VISIT]
    c1d1 = patient["cycle_starts"].get(1, patient["planned_c1d1"])
    limit = add_calendar_months(patient["step1_start"] or c1d1, 24)
    every = timedelta(weeks=patient["params"].imaging.every_weeks)
    for item in items:
        if item.kind is ItemKind.QOL:
            assert item.planned_on < limit
        if item.kind is ItemKind.IMAGING:
            assert (item.planned_on - c1d1) % every == timedelta(0)
            assert item.planned_on > c1d1
            if visits and patient["ended_on"] is None:
                assert item.planned_on < visits[-1].planned_on + timedelta(days=28)


@PROPERTY_SETTINGS
@given(
    patient=patients(),
    cycle=st.integers(min_value=2, max_value=16),
    delay=st.integers(min_value=1, max_value=21),
)
def test_delaying_a_cycle_shifts_exactly_its_own_and_later_cycle_items(patient, cycle, delay):
    cycle_starts = patient["cycle_starts"]
    if cycle > len(cycle_starts):
        return
    shifted = {
        n: d1 + timedelta(days=delay) if n >= cycle else d1 for n, d1 in cycle_starts.items()
    }
    facts = {**patient, "progression_date": None, "ended_on": None}
    before = by_key(build_calendar(**facts))
    after = by_key(build_calendar(**{**facts, "cycle_starts": shifted}))
    # Only the horizon (more scans) and the QoL limit (fewer questionnaires) change the keys.
    assert all(after[key].kind is ItemKind.IMAGING for key in after.keys() - before.keys())
    assert all(before[key].kind is ItemKind.QOL for key in before.keys() - after.keys())
    for key in before.keys() & after.keys():
        item = after[key]
        moved = item.anchor is Anchor.CYCLE and item.cycle is not None and item.cycle >= cycle
        expected = timedelta(days=delay) if moved else timedelta(0)
        assert item.planned_on - before[key].planned_on == expected, key
