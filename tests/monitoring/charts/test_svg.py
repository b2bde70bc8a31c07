"""SVG charts: well-formed XML, accessible, deterministic, numbers in data-* attributes,
hostile text escaped."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from monitoring.analysis.incidence import IncidenceRecord, Outcome, cumulative_incidence
from monitoring.analysis.survival import SurvivalRecord, kaplan_meier, numbers_at_risk
from monitoring.charts.svg import (
    DASH_PATTERNS,
    PALETTE,
    BarSeries,
    ChartInputError,
    FlowArm,
    FlowCount,
    FlowStage,
    LinePoint,
    LineSeries,
    StepSeries,
    bar_chart,
    consort_diagram,
    km_chart,
    line_chart,
    nice_ticks,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = "<script>alert(\"x\")</script> & 'quoted'"


def parse(svg: str) -> ET.Element:
    """Parse and check what every chart must carry."""
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    assert re.fullmatch(r"0 0 \d+(\.\d+)? \d+(\.\d+)?", root.get("viewBox"))
    assert root.get("width") is None and root.get("height") is None
    title_id, desc_id = root.get("aria-labelledby").split()
    title, desc = root[0], root[1]
    assert (title.tag, title.get("id")) == ("{http://www.w3.org/2000/svg}title", title_id)
    assert (desc.tag, desc.get("id")) == ("{http://www.w3.org/2000/svg}desc", desc_id)
    assert title.text and desc.text
    return root


def numbers(attribute: str) -> list[float]:
    return [float(v) for v in attribute.split()]


def colours(svg: str) -> set[str]:
    return {c.upper() for c in re.findall(r'(?:fill|stroke)="(#[0-9A-Fa-f]{6})"', svg)}


# --- Kaplan-Meier --------------------------------------------------------------------------

RECORDS = [
    SurvivalRecord(t, e, g)
    for t, e, g in [
        (1, True, "A"),
        (2, True, "A"),
        (2, False, "A"),
        (3, True, "A"),
        (4, False, "A"),
        (5, True, "A"),
        (2, True, "B"),
        (4, False, "B"),
        (6, True, "B"),
        (8, False, "B"),
    ]
]


def _km_svg(**kwargs):
    curves = kaplan_meier(RECORDS)
    series = [StepSeries.from_kaplan_meier(c, label=f"Arm {c.group}") for c in curves]
    return curves, km_chart(
        series,
        title="PFS by arm",
        description="Kaplan-Meier estimate of progression-free survival by arm",
        at_risk=numbers_at_risk(RECORDS, (0, 2, 4, 6, 8)),
        **kwargs,
    )


def test_km_chart_carries_curves_bands_censoring_and_numbers_at_risk():
    curves, svg = _km_svg(show_ci=True)
    root = parse(svg)
    assert root.get("data-chart") == "km"
    groups = root.findall(".//svg:g[@class='series']", NS)
    assert [g.get("data-series") for g in groups] == ["Arm A", "Arm B"]
    assert [g.get("data-key") for g in groups] == ["A", "B"]
    for group, curve in zip(groups, curves, strict=True):
        line = group.find("svg:path[@class='curve']", NS)
        assert numbers(line.get("data-times")) == [row.time_months for row in curve.table]
        assert numbers(line.get("data-values")) == pytest.approx(
            [row.survival for row in curve.table], abs=1e-6
        )
        band = group.find("svg:path[@class='ci']", NS)
        assert numbers(band.get("data-lower")) == pytest.approx(
            [row.ci_lower for row in curve.table], abs=1e-6
        )
        censor = group.find("svg:path[@class='censor']", NS)
        assert numbers(censor.get("data-times")) == [
            row.time_months for row in curve.table if row.censored
        ]
    rows = root.findall(".//svg:g[@class='at-risk-row']", NS)
    assert [r.get("data-key") for r in rows] == ["A", "B"]
    counts = {
        (row.get("data-key"), float(t.get("data-time"))): int(t.get("data-count"))
        for row in rows
        for t in row.findall("svg:text[@data-count]", NS)
    }
    # A: times 1,2,2,3,4,5; B: 2,4,6,8 (at risk = time >= t).
    assert [counts["A", t] for t in (0, 2, 4, 6, 8)] == [6, 5, 2, 0, 0]
    assert [counts["B", t] for t in (0, 2, 4, 6, 8)] == [4, 4, 3, 2, 1]
    ticks = [
        float(t.get("data-tick"))
        for t in root.findall(".//svg:g[@class='axis axis-x']/svg:text[@data-tick]", NS)
    ]
    assert ticks == [0, 2, 4, 6, 8]


def test_km_chart_without_bands_or_table():
    curves = kaplan_meier(RECORDS)
    svg = km_chart([StepSeries.from_kaplan_meier(c) for c in curves], title="t", description="d")
    root = parse(svg)
    assert root.find(".//svg:path[@class='ci']", NS) is None
    assert root.find(".//svg:g[@class='at-risk']", NS) is None


def test_an_arm_without_patients_keeps_its_legend_entry():
    curves = kaplan_meier(RECORDS[:6], groups=("A", "B"))
    root = parse(
        km_chart([StepSeries.from_kaplan_meier(c) for c in curves], title="t", description="d")
    )
    empty = root.findall(".//svg:g[@class='series']", NS)[1]
    assert empty.get("data-series") == "B"
    assert empty.find("svg:path", NS).get("data-values") == ""
    assert [i.get("data-series") for i in root.findall(".//svg:g[@class='legend-item']", NS)] == [
        "A",
        "B",
    ]


def test_cumulative_incidence_as_a_step_chart():
    records = [IncidenceRecord(1, Outcome.EVENT), IncidenceRecord(2, Outcome.COMPETING)]
    (curve,) = cumulative_incidence(records)
    series = StepSeries.from_incidence(curve, label="Rising bESR1mut")
    assert series.values == (0.0, 0.5, 0.5)
    root = parse(km_chart([series], title="Incidence", description="Aalen-Johansen"))
    line = root.find(".//svg:path[@class='curve']", NS)
    assert numbers(line.get("data-values")) == [0, 0.5, 0.5]


# --- accessibility, escaping, determinism -----------------------------------------------------


def _all_charts(label: str, title: str, description: str) -> list[str]:
    return [
        km_chart(
            [StepSeries(label, (0, 1, 2), (1, 0.5, 0.25), censor_times=(1.5,))],
            title=title,
            description=description,
            at_risk=numbers_at_risk([SurvivalRecord(2, True, label)], (0, 1)),
        ),
        line_chart(
            [LineSeries(label, [LinePoint(0, 50, 40, 60), LinePoint(2, 55)])],
            title=title,
            description=description,
            x_label=label,
            y_label=label,
        ),
        bar_chart(
            [label],
            [BarSeries(label, [3])],
            title=title,
            description=description,
            value_label=label,
        ),
        consort_diagram(
            [FlowStage(label, 10, [FlowCount(label, 2)]), FlowStage(label, 8)],
            arms=[FlowArm(label, 4, [FlowCount(label, 1)]), FlowArm("B", 4)],
            title=title,
            description=description,
            left_heading=label,
        ),
    ]


def test_hostile_text_is_escaped_everywhere():
    for svg in _all_charts(HOSTILE, HOSTILE, HOSTILE + "\x01\x0b"):
        assert "<script" not in svg
        assert "&lt;script&gt;" in svg
        root = parse(svg)
        assert root[0].text == HOSTILE
        assert root[1].text == HOSTILE  # control characters XML cannot carry are dropped
        assert root.find(".//svg:script", NS) is None
        labelled = [e.get("data-series") or e.get("data-stage") for e in root.iter()]
        assert HOSTILE in labelled


def test_charts_are_deterministic_and_use_the_palette():
    first = _all_charts("Arm A", "Title", "Description")
    second = _all_charts("Arm A", "Title", "Description")
    assert first == second
    for svg in first:
        assert colours(svg) <= {c.upper() for c in PALETTE} | {"#FFFFFF", "#222222", "#D9D9D9"}
    assert len(set(DASH_PATTERNS)) == len(DASH_PATTERNS)
    assert "#F0E442" not in PALETTE  # Okabe-Ito yellow: too pale on white


def test_chart_ids_are_stable_unique_per_title_and_validated():
    a = parse(
        bar_chart(["x"], [BarSeries("s", [1])], title="One", description="d", value_label="n")
    )
    b = parse(
        bar_chart(["x"], [BarSeries("s", [1])], title="Two", description="d", value_label="n")
    )
    assert a.get("id") != b.get("id")
    assert a.get("aria-labelledby") == f"{a.get('id')}-title {a.get('id')}-desc"
    custom = parse(
        bar_chart(
            ["x"],
            [BarSeries("s", [1])],
            title="t",
            description="d",
            value_label="n",
            chart_id="enrolment",
        )
    )
    assert custom.get("id") == "enrolment"
    for bad in ("1abc", 'x" onload="alert(1)', "", "a" * 65):
        with pytest.raises(ChartInputError) as error:
            bar_chart(
                ["x"],
                [BarSeries("s", [1])],
                title="t",
                description="d",
                value_label="n",
                chart_id=bad,
            )
        assert error.value.code == "invalid_chart_id"


def test_series_are_told_apart_by_dash_pattern_not_only_colour():
    svg = line_chart(
        [LineSeries(f"s{i}", [LinePoint(0, i), LinePoint(1, i)]) for i in range(3)],
        title="t",
        description="d",
        x_label="x",
        y_label="y",
    )
    lines = parse(svg).findall(".//svg:path[@class='line']", NS)
    assert [line.get("stroke-dasharray") for line in lines] == [None, "7 4", "2 3"]
    assert len({line.get("stroke") for line in lines}) == 3


# --- line chart ----------------------------------------------------------------------------


def test_line_chart_points_error_bars_and_tick_labels():
    series = [
        LineSeries("Arm A", [LinePoint(4, 66.25, 60, 72.5), LinePoint(0, 70, 65, 75)]),
        LineSeries("Arm B", [LinePoint(0, 71), LinePoint(4, 69.5)]),
    ]
    root = parse(
        line_chart(
            series,
            title="QL2 over time",
            description="Mean global health status by arm",
            x_label="Cycle",
            y_label="Score",
            x_ticks=(0, 2, 4),
            x_tick_labels=("C1", "C3", "C5"),
            y_max=100,
        )
    )
    points = root.findall(".//svg:circle[@class='point']", NS)
    assert [(p.get("data-series"), p.get("data-x"), p.get("data-y")) for p in points] == [
        ("Arm A", "0", "70"),
        ("Arm A", "4", "66.25"),
        ("Arm B", "0", "71"),
        ("Arm B", "4", "69.5"),
    ]
    assert (points[1].get("data-lower"), points[1].get("data-upper")) == ("60", "72.5")
    assert points[2].get("data-lower") is None
    assert points[1].find("svg:title", NS).text == "Arm A, 4: 66.25 (60 - 72.5)"
    assert len(root.findall(".//svg:path[@class='error-bar']", NS)) == 2
    labels = [
        t.text for t in root.findall(".//svg:g[@class='axis axis-x']/svg:text[@data-tick]", NS)
    ]
    assert labels == ["C1", "C3", "C5"]
    y_ticks = [
        float(t.get("data-tick"))
        for t in root.findall(".//svg:g[@class='axis axis-y']/svg:text", NS)
        if t.get("data-tick")
    ]
    assert (y_ticks[0], y_ticks[-1]) == (0, 100)


# --- bar chart -----------------------------------------------------------------------------


def test_grouped_and_stacked_bars():
    categories = ["FR01", "FR02"]
    series = [BarSeries("In window", [30, 20]), BarSeries("Missed", [2, 1])]
    grouped = parse(
        bar_chart(categories, series, title="t", description="d", value_label="Assessments")
    )
    bars = grouped.findall(".//svg:rect[@class='bar']", NS)
    assert [(b.get("data-category"), b.get("data-series"), b.get("data-value")) for b in bars] == [
        ("FR01", "In window", "30"),
        ("FR01", "Missed", "2"),
        ("FR02", "In window", "20"),
        ("FR02", "Missed", "1"),
    ]
    stacked = parse(
        bar_chart(categories, series, title="t", description="d", value_label="n", stacked=True)
    )
    rows = stacked.findall(".//svg:g[@class='category']", NS)
    assert [r.get("data-total") for r in rows] == ["32", "21"]
    first = rows[0].findall("svg:rect", NS)
    # Stacked segments touch: the second starts where the first ends, widths proportional.
    x0, w0 = float(first[0].get("x")), float(first[0].get("width"))
    assert float(first[1].get("x")) == pytest.approx(x0 + w0, abs=0.02)
    assert float(first[1].get("width")) / w0 == pytest.approx(2 / 30, abs=0.01)
    ticks = [
        float(t.get("data-tick"))
        for t in stacked.findall(".//svg:g[@class='axis axis-x']/svg:text[@data-tick]", NS)
    ]
    assert all(t == int(t) for t in ticks)


def test_long_category_labels_are_truncated_with_the_full_text_in_a_title():
    label = "Prior systemic therapy for advanced disease (LHRH agonist allowed)"
    root = parse(
        bar_chart([label], [BarSeries("n", [3])], title="t", description="d", value_label="n")
    )
    text = root.find(".//svg:g[@class='category']/svg:text", NS)
    assert text.find("svg:title", NS).text == label
    assert "".join(text.itertext()).endswith("\u2026")
    assert root.find(".//svg:g[@class='category']", NS).get("data-category") == label


# --- CONSORT -------------------------------------------------------------------------------


def test_consort_diagram_counts_reasons_and_arms():
    stages = [
        FlowStage("Screened", 1200, [FlowCount("Not eligible", 150), FlowCount("Withdrew", 33)]),
        FlowStage("Included", 1017),
        FlowStage("Rising bESR1mut", 279, [FlowCount("Synchronous progression", 107)]),
        FlowStage("Randomised", 172),
    ]
    arms = [FlowArm("Arm A", 84, [FlowCount("Crossed over", 40)]), FlowArm("Arm B", 88)]
    root = parse(consort_diagram(stages, arms=arms, title="Flow", description="CONSORT flow"))
    boxes = root.findall(".//svg:g[@class='stage']", NS)
    assert [(b.get("data-stage"), b.get("data-count")) for b in boxes] == [
        ("Screened", "1200"),
        ("Included", "1017"),
        ("Rising bESR1mut", "279"),
        ("Randomised", "172"),
    ]
    exclusions = root.findall(".//svg:g[@class='exclusion']", NS)
    assert [(e.get("data-stage"), e.get("data-count")) for e in exclusions] == [
        ("Screened", "183"),
        ("Rising bESR1mut", "107"),
    ]
    reasons = [
        (r.get("data-reason"), r.get("data-count")) for r in exclusions[0].findall("svg:g", NS)
    ]
    assert reasons == [("Not eligible", "150"), ("Withdrew", "33")]
    arm_boxes = root.findall(".//svg:g[@class='arm']", NS)
    assert [(a.get("data-arm"), a.get("data-count")) for a in arm_boxes] == [
        ("Arm A", "84"),
        ("Arm B", "88"),
    ]
    detail = arm_boxes[0].find("svg:g[@class='detail']", NS)
    assert (detail.get("data-detail"), detail.get("data-count")) == ("Crossed over", "40")
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "n = 1200" in texts and "Crossed over: 40" in texts
    # Every box lies inside the viewBox.
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    for rect in root.iter("{http://www.w3.org/2000/svg}rect"):
        assert float(rect.get("x")) + float(rect.get("width")) <= width
        assert float(rect.get("y")) + float(rect.get("height")) <= height


def test_consort_translated_wording_is_a_parameter():
    root = parse(
        consort_diagram(
            [FlowStage("Sélectionnées", 12)],
            title="Flux",
            description="d",
            count_prefix="effectif : ",
        )
    )
    assert "effectif : 12" in [
        "".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")
    ]


# --- invalid input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: km_chart([], title="t", description="d"), "invalid_series"),
        (
            lambda: km_chart([StepSeries("a", (0, 1), (1,))], title="t", description="d"),
            "invalid_series",
        ),
        (
            lambda: km_chart([StepSeries("a", (1, 0), (1, 1))], title="t", description="d"),
            "invalid_value",
        ),
        (
            lambda: km_chart([StepSeries("a", (0,), (math.nan,))], title="t", description="d"),
            "invalid_value",
        ),
        (
            lambda: km_chart(
                [StepSeries("a", (0, 1), (1, 0.5), lower=(1,))], title="t", description="d"
            ),
            "invalid_series",
        ),
        (
            lambda: line_chart(
                [LineSeries("a", [])], title="t", description="d", x_label="x", y_label="y"
            ),
            "invalid_series",
        ),
        (
            lambda: line_chart(
                [LineSeries("a", [LinePoint(0, 1, lower=0)])],
                title="t",
                description="d",
                x_label="x",
                y_label="y",
            ),
            "invalid_series",
        ),
        (
            lambda: line_chart(
                [LineSeries("a", [LinePoint(0, 1)])],
                title="t",
                description="d",
                x_label="x",
                y_label="y",
                x_ticks=(0, 1),
                x_tick_labels=("one",),
            ),
            "invalid_parameter",
        ),
        (
            lambda: bar_chart(
                ["a"], [BarSeries("s", [1, 2])], title="t", description="d", value_label="n"
            ),
            "invalid_series",
        ),
        (
            lambda: bar_chart(
                ["a"], [BarSeries("s", [-1])], title="t", description="d", value_label="n"
            ),
            "invalid_value",
        ),
        (
            lambda: bar_chart(
                [], [BarSeries("s", [])], title="t", description="d", value_label="n"
            ),
            "invalid_series",
        ),
        (lambda: consort_diagram([], title="t", description="d"), "invalid_series"),
        (
            lambda: consort_diagram([FlowStage("a", -1)], title="t", description="d"),
            "invalid_value",
        ),
        (
            lambda: consort_diagram(
                [FlowStage("a", 1, [FlowCount("b", 1.5)])], title="t", description="d"
            ),
            "invalid_value",
        ),
    ],
)
def test_invalid_input_raises_coded_errors(build, code):
    with pytest.raises(ChartInputError) as error:
        build()
    assert error.value.code == code


def test_nice_ticks():
    assert nice_ticks(0, 1) == (0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert nice_ticks(0, 36) == (0, 10, 20, 30, 40)
    assert nice_ticks(0, 12.5) == (0, 2.5, 5, 7.5, 10, 12.5)
    assert nice_ticks(0, 12, integer=True) == (0, 5, 10, 15)
    assert nice_ticks(0, 3, integer=True) == (0, 1, 2, 3)
    assert nice_ticks(55, 80) == (55, 60, 65, 70, 75, 80)
    assert nice_ticks(5, 5) == (5, 5.2, 5.4, 5.6, 5.8, 6)
