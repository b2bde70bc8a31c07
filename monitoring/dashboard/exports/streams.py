"""One entry point for every export: its file name, media type, size and chunks."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.utils import timezone

from trial.selectors.access import User

from ..filters import DashboardFilters
from ..models import ExportKind
from . import odm
from .domains import DOMAINS
from .values import csv_cell

ROWS_PER_CHUNK = 500


class _Echo:
    """A file-like object whose ``write`` returns the text: csv.writer without a buffer."""

    def write(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class ExportSpec:
    kind: str
    filename: str
    content_type: str


def spec(kind: str, filters: DashboardFilters) -> ExportSpec:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    site = f"-{filters.site_code}" if filters.site_code else ""
    base = f"{filters.protocol_code}{site}-{kind}-{stamp}"
    if kind == ExportKind.ODM:
        return ExportSpec(kind, f"{base}.odm.xml", "application/xml")
    return ExportSpec(kind, f"{base}.csv", "text/csv; charset=utf-8")


def count_rows(kind: str, user: User | None, filters: DashboardFilters, *, mask: bool) -> int:
    if kind == ExportKind.ODM:
        return odm.count_rows(user, filters, mask=mask)
    return DOMAINS[kind].count(user, filters)


def chunks(
    kind: str,
    user: User | None,
    filters: DashboardFilters,
    *,
    mask: bool,
    progress: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The export's text, chunk by chunk (rows are read from a server-side cursor)."""
    if kind == ExportKind.ODM:
        yield from odm.odm_chunks(user, filters, mask=mask, progress=progress)
        return
    domain = DOMAINS[kind]
    writer = csv.writer(_Echo())
    buffer = [writer.writerow(domain.headers)]
    written = 0
    for row in domain.rows(user, filters, mask=mask):
        buffer.append(writer.writerow([csv_cell(v) for v in row]))
        written += 1
        if len(buffer) >= ROWS_PER_CHUNK:
            yield "".join(buffer)
            buffer.clear()
            if progress is not None:
                progress(written)
    yield "".join(buffer)
    if progress is not None:
        progress(written)
