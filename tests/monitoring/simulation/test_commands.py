"""``manage.py simulate`` and ``manage.py seed_demo`` (whose patients come from the simulator)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from randomization.models import Allocation, Crossover
from trial.management.commands import seed_demo
from trial.models import Patient, Step2Trigger, TriggerStatus

# Real commits: the outbox and e-mails leave after commit (on_commit), as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
END = dt.date(2027, 3, 31)


def test_simulate_writes_the_report_and_refuses_a_second_trial(pada1, tmp_path):
    out, err = StringIO(), StringIO()
    options = {"patients": 6, "sites": 2, "seed": 3, "months": 3, "end": END}
    call_command("simulate", report_dir=str(tmp_path), stdout=out, stderr=err, **options)
    report = (tmp_path / "simulation-3.md").read_text()
    assert out.getvalue() == report
    assert "# Simulated PADA-1 trial, seed 3" in report and "| Registered | 6 |" in report
    assert "%" in err.getvalue()  # the progress line
    with pytest.raises(CommandError, match="already has patients"):
        call_command("simulate", report_dir=str(tmp_path), quiet=True, **options)


def test_simulate_checks_its_options(pada1, tmp_path):
    with pytest.raises(CommandError, match="--site-codes must name"):
        call_command("simulate", patients=2, sites=2, seed=1, site_codes="FR01", quiet=True)
    with pytest.raises(CommandError, match="--password-file"):
        call_command("simulate", patients=2, sites=1, seed=1, site_codes="FR01", quiet=True)
    with pytest.raises(CommandError, match="--months"):
        call_command("simulate", patients=2, sites=1, seed=1, months=0.5, quiet=True)


def test_seed_demo_lists_logins_and_needs_the_protocol(db):
    out = StringIO()
    call_command("seed_demo", "--list-logins", stdout=out)
    assert "investigator.paris" in out.getvalue() and "statistician" in out.getvalue()
    with pytest.raises(CommandError, match="load the PADA1 protocol"):
        call_command("seed_demo")


@pytest.fixture
def demo_settings(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_seed_demo_simulates_a_small_trial_and_is_idempotent(pada1, demo_settings, monkeypatch):
    monkeypatch.setattr(
        seed_demo, "DEMO_TRIAL", {**seed_demo.DEMO_TRIAL, "patients": 8, "months": 4}
    )
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    password = (demo_settings / "demo_password").read_text().strip()
    assert password in out.getvalue()
    assert Patient.objects.count() == seed_demo.DEMO_TRIAL["patients"]
    assert set(Patient.objects.values_list("site__code", flat=True)) <= {"FR01", "FR02", "FR03"}
    investigator = get_user_model().objects.get(username="investigator.paris")
    assert investigator.check_password(password)
    assert investigator.password.startswith("md5$")  # the configured hasher again, not the run's
    assert investigator.email == "investigator.paris@example.org"
    assert (demo_settings / "simulation-1.md").exists()

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "demo data present" in again.getvalue()
    assert Patient.objects.count() == seed_demo.DEMO_TRIAL["patients"]


# The demo ends "today": pin the day so the scenario's calendar, and so the states it reaches,
# do not depend on the date the suite runs.
@time_machine.travel(dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC), tick=False)
def test_the_demo_shows_every_state_of_the_design(pada1, demo_settings):
    """The full demo `make run` loads (40 patients, 18 months, seed 1), ending on a fixed day."""
    call_command(
        "simulate",
        sites=3,
        end=END,
        report_dir=str(demo_settings),
        quiet=True,
        stderr=StringIO(),
        **seed_demo.DEMO_TRIAL,
    )
    states = Counter(Patient.objects.values_list("status", "step"))
    steps = {step for _status, step in states}
    assert {"screening", "screen_failed", "enrolled"} <= {status for status, _ in states}
    assert {"step1", "step2_arm_a", "step2_arm_b", "step3", "follow_up"} <= steps
    assert Step2Trigger.objects.filter(status=TriggerStatus.IMAGING_REQUIRED).exists()
    assert Allocation.objects.filter(arm="A").exists() and Allocation.objects.filter(arm="B")
    assert Crossover.objects.exists()
    cycles_on_step1 = {
        p.lines.get(ended_on=None).cycles.filter(status="started").count()
        for p in Patient.objects.filter(step="step1")
    }
    assert len(cycles_on_step1) >= 4  # Step 1 patients at various cycles
