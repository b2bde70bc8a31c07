"""Eligibility as data, at the thresholds' boundaries (DOMAIN.md section 6, section 7 rules 28-29)."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from trial.rules.eligibility import (
    Outcome,
    age_consistent,
    criteria_from_protocol,
    evaluate,
)

PROTOCOLS = Path(__file__).resolve().parents[3] / "trial" / "protocols"
SCREENING = dt.date(2027, 3, 1)


def criteria(name="pada1.yaml"):
    return criteria_from_protocol(yaml.safe_load((PROTOCOLS / name).read_text())["eligibility"])


def eligible_values():
    attest_yes = {
        "tissue",
        "no_prior_systemic_mbc",
        "organ_function",
        "recovered",
        "social_security",
    }
    values = {
        "screening_date": SCREENING,
        "sex": "female",
        "age": Decimal(62),
        "disease_stage": "metastatic",
        "relapse_date": dt.date(2026, 12, 1),
        "life_expectancy": Decimal(24),
        "ecog": Decimal(1),
        "er_positive_cells": Decimal(80),
        "her2_status": "negative",
        "menopausal_status": "postmenopausal",
        "haemoglobin": Decimal(121),
        "wbc": Decimal("5.2"),
        "platelets": Decimal(250),
    }
    for c in criteria():
        if c.kind == "attestation":
            values[c.id] = c.id in attest_yes
    return values


def failures(values, name="pada1.yaml"):
    return {r.id: r for r in evaluate(criteria(name), values).failures}


def test_an_eligible_patient_passes_every_criterion():
    result = evaluate(criteria(), eligible_values())
    assert result.eligible, result.failures
    assert len(result.results) == len(criteria())


@pytest.mark.parametrize(
    ("key", "value", "fails"),
    [
        ("er_positive_cells", Decimal("9.9"), True),
        ("er_positive_cells", Decimal("10"), False),
        ("age", Decimal(17), True),
        ("age", Decimal(18), False),
        ("ecog", Decimal(3), True),
        ("ecog", Decimal(2), False),
        ("haemoglobin", Decimal("89.9"), True),
        ("haemoglobin", Decimal(90), False),
        ("platelets", Decimal("99.9"), True),
        ("platelets", Decimal(100), False),
        ("wbc", Decimal("1.499"), True),
        ("wbc", Decimal("1.5"), False),
        ("life_expectancy", Decimal(3), True),
        ("life_expectancy", Decimal("3.1"), False),
    ],
)
def test_numeric_thresholds_at_their_boundaries(key, value, fails):
    values = eligible_values() | {key: value}
    failed = failures(values)
    assert (len(failed) == 1) is fails
    if fails:
        assert next(iter(failed.values())).outcome is Outcome.FAILED


def test_every_failure_is_reported_not_just_the_first():
    values = eligible_values() | {
        "er_positive_cells": Decimal("9.9"),
        "ecog": Decimal(3),
        "her2_status": "positive",
        "prior_cdk46": True,
    }
    assert set(failures(values)) == {"er", "ecog", "her2", "prior_cdk46"}


def test_missing_values_are_failures_of_their_own_kind():
    values = eligible_values()
    del values["platelets"]
    del values["tissue"]
    failed = failures(values)
    assert {k: r.outcome for k, r in failed.items()} == {
        "platelets": Outcome.MISSING,
        "tissue": Outcome.MISSING,
    }


@pytest.mark.parametrize(
    ("days_before", "excluded"), [(13, True), (0, True), (14, False), (30, False)]
)
def test_major_surgery_within_14_days_excludes(days_before, excluded):
    values = eligible_values() | {"last_major_surgery_date": SCREENING - dt.timedelta(days_before)}
    assert ("major_surgery" in failures(values)) is excluded


@pytest.mark.parametrize(("days", "fails"), [(365, True), (366, False)])
def test_relapse_more_than_a_year_after_adjuvant_ai(days, fails):
    relapse = dt.date(2026, 12, 1)
    values = eligible_values() | {
        "relapse_date": relapse,
        "adjuvant_ai_end_date": relapse - dt.timedelta(days=days),
    }
    assert ("ai_sensitive" in failures(values)) is fails


def test_no_adjuvant_ai_is_ai_sensitive():
    values = eligible_values() | {"adjuvant_ai_end_date": None}
    assert "ai_sensitive" not in failures(values)


def test_palatine_ecog_3_fails():
    c = criteria("palatine.yaml")
    values = {"screening_date": SCREENING, "ecog": Decimal(3)}
    result = {r.id: r for r in evaluate(c, values).results}
    assert result["ecog"].outcome is Outcome.FAILED


@pytest.mark.parametrize(("age", "ok"), [(61, True), (62, True), (63, False), (60, False)])
def test_age_must_match_year_of_birth(age, ok):
    assert age_consistent(age_years=age, year_of_birth=1965, on=dt.date(2027, 3, 1)) is ok
