"""A plain-text progress line on stderr (no dependency): rewritten in place on a terminal,
one line per tenth of the run otherwise (logs, CI)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import TextIO

WIDTH = 30
SHOWN = ("screening", "step1", "arm_a", "arm_b", "step3", "follow_up")


class Progress:
    def __init__(self, stream: TextIO | None):
        self.stream = stream
        self.interactive = bool(stream is not None and stream.isatty())
        self.started = time.perf_counter()
        self._last_tenth = -1

    def update(self, done: int, total: int, day: dt.date, census: Mapping[str, int]) -> None:
        if self.stream is None:
            return
        tenth = done * 10 // total
        if not self.interactive and tenth == self._last_tenth:
            return
        self._last_tenth = tenth
        filled = done * WIDTH // total
        states = " ".join(f"{name} {census.get(name, 0)}" for name in SHOWN)
        line = (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {done * 100 // total:3d}% {day} "
            f"{states} ({time.perf_counter() - self.started:.0f} s)"
        )
        self.stream.write(f"\r{line}" if self.interactive else f"{line}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is not None and self.interactive:
            self.stream.write("\n")
            self.stream.flush()
