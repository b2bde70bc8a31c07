"""Where a run's time goes: calls, database queries and seconds per product operation."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Meter:
    """Counts every query (a ``connection.execute_wrapper``) and attributes it, with the wall
    time, to the operation being measured (the innermost ``measure`` block)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.queries: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.total_queries = 0
        self._current: str | None = None

    def count_query(self, execute, sql, params, many, context):
        self.total_queries += 1
        if self._current is not None:
            self.queries[self._current] += 1
        return execute(sql, params, many, context)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        previous, self._current = self._current, name
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started
            self.calls[name] += 1
            self._current = previous

    def call(self, name: str, function: Callable[..., Any], /, **kwargs: Any) -> Any:
        with self.measure(name):
            return function(**kwargs)

    def table(self) -> list[tuple[str, int, float, float, float]]:
        """(operation, calls, queries per call, ms per call, seconds), slowest total first."""
        return [
            (
                name,
                self.calls[name],
                self.queries[name] / self.calls[name],
                1000 * self.seconds[name] / self.calls[name],
                self.seconds[name],
            )
            for name in sorted(self.seconds, key=lambda n: -self.seconds[n])
        ]
