"""Markdown rendering of the benchmark report: pure functions of the measured values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .figures import Figure, format_number


@dataclass(frozen=True)
class Machine:
    """Where the figures come from: they mean little without it."""

    date: str
    cpu_model: str
    nproc: int
    ram_gib: float
    kernel: str
    python: str
    postgresql: str
    load_generator: str
    load_before: str = ""
    load_after: str = ""


@dataclass(frozen=True)
class Section:
    """A benchmark's details under its own heading: its setup and the raw numbers."""

    title: str
    body: str


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; ``|`` inside cells is escaped."""
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def figure_row(figure: Figure) -> list[str]:
    value = "-" if figure.value is None else f"{format_number(figure.value)} {figure.unit}"
    if figure.lower_bound and figure.value is not None:
        value = f"> {value}"
    if figure.baseline_value is None:
        baseline = figure.baseline_name or "-"
    else:
        baseline = f"{figure.baseline_name}: {format_number(figure.baseline_value)}"
    ratio = "-" if figure.ratio is None else f"{figure.ratio:.2f}"
    targets = "; ".join(t.describe(figure.unit) for t in figure.targets) or "-"
    verdict = figure.verdict.value
    if figure.note:
        verdict = f"{verdict} ({figure.note})"
    return [figure.name, value, baseline, ratio, targets, verdict]


def figures_table(figures: Sequence[Figure]) -> str:
    return table(
        ["figure", "value", "baseline (same run)", "ratio", "target", "verdict"],
        [figure_row(f) for f in figures],
    )


def machine_table(machine: Machine) -> str:
    return table(
        ["", ""],
        [
            ["date", machine.date],
            ["CPU", f"{machine.cpu_model}, {machine.nproc} cores (nproc)"],
            ["RAM", f"{machine.ram_gib:.1f} GiB"],
            ["kernel", machine.kernel],
            ["Python", machine.python],
            ["PostgreSQL", machine.postgresql],
            ["load generator", machine.load_generator],
            [
                "load average (1, 5, 15 min)",
                f"{machine.load_before or '-'} before, {machine.load_after or '-'} after",
            ],
        ],
    )


def busy_warning(machine: Machine) -> str:
    """A warning when other work kept the cores busy: every figure is then understated."""
    loads = [float(x) for x in (machine.load_before.split() + machine.load_after.split())[::3]]
    if not loads or max(loads) <= machine.nproc:
        return ""
    return (
        f"**The machine was busy**: load average {max(loads):.1f} on {machine.nproc} cores "
        "(1 minute, before or after the run). Other processes competed with the server, the "
        "database and the load generator: the figures below understate this machine; compare "
        "ratios within the run only."
    )


def render_report(
    *,
    machine: Machine,
    figures: Sequence[Figure],
    sections: Sequence[Section],
    not_measured: Sequence[str],
    wall_time_s: float,
) -> str:
    """The whole REPORT.md: machine, one table of every figure, then each benchmark's details."""
    parts = [
        "# Benchmark report",
        "",
        "Written by `make bench` (`bench/run.py`); every baseline was measured in the same run, "
        "on the same machine, so the ratios compare like with like. How to read it and how each "
        "figure is taken: `reports/bench/README.md`.",
        "",
        "## Machine",
        "",
        machine_table(machine),
        "",
        *([busy_warning(machine), ""] if busy_warning(machine) else []),
        "## Figures",
        "",
        figures_table(figures),
        "",
        f"Whole run: {wall_time_s:.0f} s.",
    ]
    for section in sections:
        parts += ["", f"## {section.title}", "", section.body.rstrip()]
    if not_measured:
        parts += ["", "## Not measured yet", ""]
        parts += [f"- {item}" for item in not_measured]
    return "\n".join(parts) + "\n"
