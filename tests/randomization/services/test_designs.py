"""Designs: reproducible generation, the seed kept only as a digest, import with
verification, activation that re-hashes the stored list, retirement."""

from __future__ import annotations

import hashlib
import json

import pytest

from randomization import exceptions as errors
from randomization.models import (
    Design,
    DesignStatus,
    ListEntry,
    MinimizationDraw,
    StratumCursor,
)
from randomization.rules.blocks import canonical_csv, seed_digest
from randomization.rules.minimization import MINIMIZATION_DRAWS_V1, minimization_draw
from randomization.services import designs as svc
from randomization.services.lifecycle import design_activate, design_retire, stored_list_digest
from tests.randomization import factories as rf
from trial.exceptions import DomainError
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db

OTHER_SEED = "0" * 31 + "1"


def generate(version, by, seed=rf.SEED, length=12):
    return svc.design_generate(protocol_version=version, by=by, seed=seed, length=length)


def entries_of(design):
    return list(
        ListEntry.objects.filter(design=design)
        .order_by("stratum", "sequence_number")
        .values_list("stratum", "sequence_number", "arm", "block_number", "block_size")
    )


def test_generation_is_reproducible_per_seed_and_differs_across_seeds(pada1, statistician):
    first, again, other = (generate(pada1, statistician, s) for s in (rf.SEED, rf.SEED, OTHER_SEED))
    assert first.list_sha256 == again.list_sha256 != other.list_sha256
    assert entries_of(first) == entries_of(again) != entries_of(other)
    assert [first.number, again.number, other.number] == [1, 2, 3]


def test_every_stratum_of_the_protocol_gets_a_list_and_a_cursor(pada1, statistician):
    design = generate(pada1, statistician, length=12)
    strata = {
        "visceral_metastases=yes|time_on_step1=lt_12_months",
        "visceral_metastases=yes|time_on_step1=ge_12_months",
        "visceral_metastases=no|time_on_step1=lt_12_months",
        "visceral_metastases=no|time_on_step1=ge_12_months",
    }
    assert set(ListEntry.objects.filter(design=design).values_list("stratum", flat=True)) == strata
    assert {
        (c.stratum, c.length, c.allocated) for c in StratumCursor.objects.filter(design=design)
    } == {(s, 12, 0) for s in strata}
    assert design.block_sizes == [2, 4, 6] and design.ratio == {"A": 1, "B": 1}
    assert design.arms == ["A", "B"] and design.status == DesignStatus.DRAFT


def test_the_seed_is_stored_only_as_its_digest_and_the_list_hash_is_audited(pada1, statistician):
    design = generate(pada1, statistician)
    assert design.seed_sha256 == seed_digest(rf.SEED)
    event = AuditEvent.objects.get(action="randomization_list_generated")
    assert event.details["list_sha256"] == design.list_sha256
    assert event.details["seed_sha256"] == design.seed_sha256
    assert event.actor == statistician and event.patient is None
    stored = json.dumps(
        [list(Design.objects.values()), list(AuditEvent.objects.values("details"))], default=str
    )
    assert rf.SEED not in stored
    assert design.list_sha256 == stored_list_digest(design)


@pytest.mark.parametrize("persona", ["data_manager", "investigator_a", "sponsor"])
def test_only_a_statistician_generates(pada1, request, persona):
    with pytest.raises(DomainError) as caught:
        generate(pada1, request.getfixturevalue(persona))
    assert caught.value.code == "role_not_allowed"
    assert Design.objects.count() == 0


def test_a_short_seed_is_refused(pada1, statistician):
    with pytest.raises(errors.SeedTooShort):
        generate(pada1, statistician, seed="1234")


def test_palatine_has_nothing_to_randomize(palatine, statistician):
    with pytest.raises(errors.ProtocolNotRandomized):
        generate(palatine, statistician)


def test_activation_seals_the_design_and_one_design_is_active_per_protocol(pada1, statistician):
    first = generate(pada1, statistician)
    active = design_activate(design=first, by=statistician)
    assert active.status == DesignStatus.ACTIVE and active.activated_by == statistician
    assert AuditEvent.objects.filter(action="randomization_design_activated").count() == 1
    with pytest.raises(errors.DesignNotDraft):
        design_activate(design=first, by=statistician)
    second = generate(pada1, statistician, seed=OTHER_SEED)
    with pytest.raises(errors.DesignAlreadyActive):
        design_activate(design=second, by=statistician)
    design_retire(design=active, by=statistician, reason="replaced after amendment")
    assert design_activate(design=second, by=statistician).status == DesignStatus.ACTIVE
    with pytest.raises(errors.DesignNotActive):
        design_retire(design=active, by=statistician, reason="again")


def test_activation_refuses_a_list_that_no_longer_matches_its_digest(pada1, statistician):
    draft = generate(pada1, statistician, length=2)
    ListEntry.objects.create(
        design=draft,
        stratum="visceral_metastases=yes|time_on_step1=lt_12_months",
        sequence_number=3,
        arm="A",
        block_number=2,
        block_size=2,
    )
    with pytest.raises(errors.ListHashMismatch):
        design_activate(design=draft, by=statistician)
    assert Design.objects.get(pk=draft.pk).status == DesignStatus.DRAFT


def test_only_a_statistician_activates(pada1, statistician, data_manager):
    draft = generate(pada1, statistician)
    with pytest.raises(DomainError) as caught:
        design_activate(design=draft, by=data_manager)
    assert caught.value.code == "role_not_allowed"


def _export(design):
    from randomization.rules.blocks import BlockEntry, BlockList

    return canonical_csv(BlockList(entries=tuple(BlockEntry(*row) for row in entries_of(design))))


def test_an_exported_list_imports_back_to_the_same_digest(pada1, statistician):
    generated = generate(pada1, statistician)
    text = _export(generated)
    imported = svc.design_import(
        protocol_version=pada1,
        by=statistician,
        text=text,
        declared_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    assert imported.list_sha256 == generated.list_sha256
    assert imported.source == "imported" and imported.seed_sha256 == ""
    assert entries_of(imported) == entries_of(generated)
    event = AuditEvent.objects.get(action="randomization_list_imported")
    assert event.details["file_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert design_activate(design=imported, by=statistician).status == DesignStatus.ACTIVE


def test_a_list_with_problems_is_refused_with_every_problem(pada1, statistician):
    text = "stratum,sequence_number,block_number,arm\nnope,1,1,C\n"
    with pytest.raises(DomainError) as caught:
        svc.design_import(
            protocol_version=pada1, by=statistician, text=text, declared_sha256="0" * 64
        )
    assert caught.value.code == "invalid_randomization_list" and caught.value.status_code == 422
    codes = {p["code"] for p in caught.value.details["problems"]}
    assert {"hash_mismatch", "unknown_arm", "unknown_stratum"} <= codes
    assert Design.objects.count() == 0


def test_minimization_designs_store_their_draws(pada1, statistician):
    version = rf.with_minimization(pada1)
    design = generate(version, statistician, length=5)
    assert design.method == "minimization" and design.p_preferred == 0.8
    assert design.measure == "range" and design.weights == {
        "visceral_metastases": 1,
        "time_on_step1": 1,
    }
    draws = list(MinimizationDraw.objects.filter(design=design).order_by("sequence_number"))
    assert [d.draw for d in draws] == [
        minimization_draw(seed=rf.SEED, algorithm_version=MINIMIZATION_DRAWS_V1, sequence_number=s)
        for s in range(1, 6)
    ]
    assert list(StratumCursor.objects.filter(design=design).values_list("stratum", "length")) == [
        ("all", 5)
    ]
    assert design.list_sha256 == stored_list_digest(design)
    with pytest.raises(errors.ImportRequiresPermutedBlocks):
        svc.design_import(
            protocol_version=version, by=statistician, text="", declared_sha256="0" * 64
        )
