"""The statistician's commands: generate, import, activate/retire, simulate."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from randomization.models import Design, DesignStatus
from randomization.rules.blocks import seed_digest
from tests.conftest import PASSWORD
from tests.randomization import factories as rf
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def typed(monkeypatch):
    """Answers to the commands' hidden prompts, in order."""
    answers: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: answers.pop(0))
    return answers


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_generate_with_a_typed_seed_then_activate(pada1, statistician, typed):
    typed += [PASSWORD, rf.SEED, rf.SEED]
    out = run("randomization_generate", "PADA1", "--user", "stat", "--length", "8")
    design = Design.objects.get()
    assert f"list SHA-256 {design.list_sha256}" in out
    assert f"seed SHA-256 {seed_digest(rf.SEED)}" in out and rf.SEED not in out
    assert design.created_by == statistician and design.status == DesignStatus.DRAFT
    typed += [PASSWORD]
    assert "is active" in run("randomization_activate", str(design.pk), "--user", "stat")
    typed += [PASSWORD]
    run("randomization_activate", str(design.pk), "--user", "stat", "--retire", "--reason", "end")
    assert Design.objects.get().status == DesignStatus.RETIRED


def test_generate_reads_the_seed_from_a_file(pada1, statistician, typed, tmp_path):
    seed_file = tmp_path / "seed"
    seed_file.write_text(rf.SEED + "\n")
    typed += [PASSWORD]
    run(
        "randomization_generate",
        "PADA1",
        "--user",
        "stat",
        "--length",
        "4",
        "--seed-file",
        str(seed_file),
    )
    assert Design.objects.get().seed_sha256 == seed_digest(rf.SEED)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([PASSWORD, rf.SEED, rf.SEED + "x"], "the two seeds differ"),
        (["wrong", rf.SEED, rf.SEED], "wrong password"),
        ([PASSWORD, "short", "short"], "seed_too_short"),
    ],
)
def test_generate_refusals(pada1, statistician, typed, answers, message):
    typed += answers
    with pytest.raises(CommandError, match=message):
        run("randomization_generate", "PADA1", "--user", "stat", "--length", "4")
    assert Design.objects.count() == 0


def test_a_data_manager_cannot_generate(pada1, data_manager, typed):
    typed += [PASSWORD, rf.SEED, rf.SEED]
    with pytest.raises(CommandError, match="role_not_allowed"):
        run("randomization_generate", "PADA1", "--user", "dm", "--length", "4")


def test_import_verifies_the_list(pada1, statistician, typed, tmp_path):
    strata = [
        f"visceral_metastases={v}|time_on_step1={t}"
        for v in ("yes", "no")
        for t in ("lt_12_months", "ge_12_months")
    ]
    rows = ["stratum,sequence_number,block_number,arm"]
    rows += [f"{s},{n},1,{arm}" for s in strata for n, arm in ((1, "A"), (2, "B"))]
    text = "\n".join(rows) + "\n"
    path = tmp_path / "list.csv"
    path.write_bytes(text.encode())
    digest = hashlib.sha256(text.encode()).hexdigest()
    typed += [PASSWORD]
    out = run(
        "randomization_import", "PADA1", "--user", "stat", "--file", str(path), "--sha256", digest
    )
    assert "imported" in out and Design.objects.get().source == "imported"
    assert AuditEvent.objects.filter(action="randomization_list_imported").count() == 1
    typed += [PASSWORD]
    with pytest.raises(CommandError, match="invalid_randomization_list.*hash_mismatch"):
        run(
            "randomization_import",
            "PADA1",
            "--user",
            "stat",
            "--file",
            str(path),
            "--sha256",
            "0" * 64,
        )


def test_retire_needs_a_reason(design, typed):
    with pytest.raises(CommandError, match="--reason"):
        run("randomization_activate", str(design.pk), "--user", "stat", "--retire")


def test_unknown_protocol_and_design(typed):
    with pytest.raises(CommandError, match="no protocol"):
        run("randomization_simulate", "NOPE")
    with pytest.raises(CommandError, match="no design"):
        run("randomization_activate", "999", "--user", "stat")


def test_simulate_prints_the_report(pada1):
    out = run(
        "randomization_simulate", "PADA1", "--trials", "5", "--patients", "40", "--seed", "s1"
    )
    assert "Allocation simulation: permuted blocks" in out and "block sizes: 2, 4, 6" in out
    assert "Correct guesses, convergence strategy within stratum" in out
    assert out == run(
        "randomization_simulate", "PADA1", "--trials", "5", "--patients", "40", "--seed", "s1"
    )
    minimization = run(
        "randomization_simulate",
        "PADA1",
        "--trials",
        "3",
        "--patients",
        "20",
        "--seed",
        "s",
        "--method",
        "minimization",
        "--levels",
        "visceral_metastases=0.7,0.3",
    )
    assert "observer who knows the algorithm" in minimization


def test_simulate_refuses_bad_probabilities(pada1):
    with pytest.raises(CommandError, match="invalid_design"):
        run("randomization_simulate", "PADA1", "--levels", "visceral_metastases=0.7,0.7")
    with pytest.raises(CommandError, match="unknown factor"):
        run("randomization_simulate", "PADA1", "--levels", "nope=1")
