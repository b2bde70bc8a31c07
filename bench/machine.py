"""The machine the figures come from."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

from .markdown import Machine


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def mem_total_gib(meminfo: str) -> float:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    raise ValueError("no MemTotal line in /proc/meminfo")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_describe(*, postgresql: str, load_generator: str) -> Machine:
    return Machine(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpu_model=cpu_model(Path("/proc/cpuinfo").read_text()),
        nproc=len(os.sched_getaffinity(0)),
        ram_gib=mem_total_gib(Path("/proc/meminfo").read_text()),
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        postgresql=postgresql,
        load_generator=load_generator,
        load_before=load_average(),
    )
