"""Markdown tables and the report's layout."""

import dataclasses

from bench.figures import Bound, Figure, Target
from bench.markdown import Machine, Section, busy_warning, figure_row, render_report, table

MACHINE = Machine(
    date="2026-11-21 09:00 UTC",
    cpu_model="Xeon",
    nproc=2,
    ram_gib=23.5,
    kernel="Linux 6",
    python="3.11.7",
    postgresql="PostgreSQL 15.20",
    load_generator="wrk",
    load_before="0.50 0.40 0.30",
    load_after="2.00 1.00 0.50",
)


def test_table_has_a_header_a_rule_and_escaped_cells():
    assert table(["a", "b"], [[1, "x|y"], ["two\nlines", ""]]) == (
        "| a | b |\n|---|---|\n| 1 | x\\|y |\n| two lines |  |"
    )


def test_figure_row_shows_value_baseline_ratio_targets_and_verdict():
    figure = Figure(
        name="ctDNA result",
        value=450.0,
        unit="results/s",
        baseline_name="bare endpoint",
        baseline_value=500.0,
        targets=(Target(Bound.AT_LEAST, 0.8, relative=True), Target(Bound.AT_LEAST, 400)),
    )
    assert figure_row(figure) == [
        "ctDNA result",
        "450 results/s",
        "bare endpoint: 500",
        "0.90",
        ">= 0.8 x baseline; >= 400 results/s",
        "PASS",
    ]


def test_figure_row_of_an_unmeasured_figure_with_a_note():
    figure = Figure(name="x", value=None, unit="s", targets=(Target(Bound.AT_MOST, 5),), note="why")
    assert figure_row(figure) == ["x", "-", "-", "-", "<= 5 s", "not measured (why)"]


def test_report_layout():
    report = render_report(
        machine=MACHINE,
        figures=[Figure(name="pgbench", value=3871.0, unit="tps")],
        sections=[Section("Details", "body\n")],
        not_measured=["dashboards: not landed"],
        wall_time_s=312.4,
    )
    assert report.startswith("# Benchmark report\n")
    assert "| CPU | Xeon, 2 cores (nproc) |" in report
    assert "| load average (1, 5, 15 min) | 0.50 0.40 0.30 before, 2.00 1.00 0.50 after |" in report
    assert "| pgbench | 3,871 tps | - | - | - | - |" in report
    assert "Whole run: 312 s." in report
    assert "## Details\n\nbody\n" in report
    assert report.endswith("## Not measured yet\n\n- dashboards: not landed\n")


def test_busy_machine_warning_uses_the_one_minute_load_before_or_after():
    assert busy_warning(MACHINE) == ""  # 0.50 before, 2.00 after, on 2 cores
    busy = dataclasses.replace(MACHINE, load_after="7.02 4.87 2.40")
    assert busy_warning(busy).startswith("**The machine was busy**: load average 7.0 on 2 cores")
    report = render_report(machine=busy, figures=[], sections=[], not_measured=[], wall_time_s=1.0)
    assert "**The machine was busy**" in report
    assert busy_warning(dataclasses.replace(MACHINE, load_before="", load_after="")) == ""
