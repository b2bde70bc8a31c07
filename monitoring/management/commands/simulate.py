"""``manage.py simulate --patients N --sites S --seed X [--months M]``: a synthetic multi-site
PADA-1 trial driven through the product, ending with the simulated-vs-published report.

Run it on an empty trial (a fresh database): the report's figures are trial-wide. The report
is printed and written to ``reports/simulation-<seed>.md``; progress goes to stderr.
``--site-codes`` runs the trial at existing sites with their staff (the investigators'
password is read from ``--password-file``), as ``seed_demo`` does for the demo.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring.simulation import (
    RunConfig,
    SimulationError,
    existing_staffing,
    run_simulation,
)
from monitoring.simulation.scenario import SCENARIOS


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
        parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="reference")
        parser.add_argument(
            "--site-codes", default="", help="comma-separated existing sites (default: new SIMnn)"
        )
        parser.add_argument("--password-file", default="", help="with --site-codes")
        parser.add_argument(
            "--report-dir", default=str(Path(settings.BASE_DIR) / "reports"), help="where to write"
        )
        parser.add_argument("--quiet", action="store_true", help="no progress, no printed report")

    def _staffing(self, options):
        codes = [c.strip() for c in options["site_codes"].split(",") if c.strip()]
        if not codes:
            return None
        if len(codes) != options["sites"]:
            raise CommandError("--site-codes must name --sites sites")
        if not options["password_file"]:
            raise CommandError("--site-codes needs --password-file (the investigators')")
        password = Path(options["password_file"]).read_text().strip()
        return lambda: existing_staffing(site_codes=codes, password=password)

    def handle(self, *args, **options):
        if options["months"] < 1:
            raise CommandError("--months must be at least 1")
        config = RunConfig(
            patients=options["patients"],
            sites=options["sites"],
            seed=options["seed"],
            months=options["months"],
            scenario=SCENARIOS[options["scenario"]],
        )
        try:
            _result, report = run_simulation(
                config,
                last_day=options["end"] or timezone.localdate(),
                staffing=self._staffing(options),
                # the raw stream: the progress line is rewritten in place (no added newline)
                stream=None if options["quiet"] else self.stderr._out,
            )
        except SimulationError as error:
            raise CommandError(str(error)) from error
        directory = Path(options["report_dir"])
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"simulation-{config.seed}.md"
        path.write_text(report.markdown)
        if not options["quiet"]:
            self.stdout.write(report.markdown)
        self.stderr.write(f"report written to {path}")
