"""``manage.py simulate --patients N --sites S --seed X [--months M]``: a synthetic multi-site
PADA-1 trial driven through the product, ending with the simulated-vs-published report.

Run it on an empty trial (a fresh database): the report's figures are trial-wide. The report
is printed and written to ``reports/simulation-<seed>.md``; progress goes to stderr.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring.simulation import RunConfig, SimulationError, run_simulation


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Simulate a multi-site PADA-1 trial through the product and report it beside PADA-1."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=_positive, required=True)
        parser.add_argument("--sites", type=_positive, required=True)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--months", type=float, default=36.0, help="length (default 36)")
        parser.add_argument(
            "--end",
            type=dt.date.fromisoformat,
            default=None,
            help="last simulated day, YYYY-MM-DD (default: today)",
        )
        parser.add_argument(
            "--report-dir", default=str(Path(settings.BASE_DIR) / "reports"), help="where to write"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        if options["months"] < 1:
            raise CommandError("--months must be at least 1")
        config = RunConfig(
            patients=options["patients"],
            sites=options["sites"],
            seed=options["seed"],
            months=options["months"],
        )
        last_day = options["end"] or timezone.localdate()
        try:
            _result, report = run_simulation(
                config,
                last_day=last_day,
                stream=None if options["no_progress"] else self.stderr._out,
            )
        except SimulationError as error:
            raise CommandError(str(error)) from error
        directory = Path(options["report_dir"])
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"simulation-{config.seed}.md"
        path.write_text(report.markdown)
        self.stdout.write(report.markdown)
        self.stderr.write(f"report written to {path}")
