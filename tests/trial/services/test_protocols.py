"""Protocol files: validation errors name file and path; loading is idempotent; amendments."""

import pytest

from trial.exceptions import ProtocolInvalid
from trial.models import ProtocolVersion
from trial.services.protocols import PROTOCOL_DIR, protocol_load, protocol_parse

PADA1 = (PROTOCOL_DIR / "pada1.yaml").read_text()


@pytest.mark.django_db
def test_loading_is_idempotent_and_a_change_is_an_amendment():
    first = protocol_load(text=PADA1, source_name="pada1.yaml")
    again = protocol_load(text=PADA1, source_name="pada1.yaml")
    assert first.created and not again.created
    assert again.version.pk == first.version.pk
    amended = protocol_load(
        text=PADA1.replace('document_version: "1.0"', 'document_version: "1.1"'),
        source_name="pada1.yaml",
    )
    assert amended.created and amended.version.number == 2
    assert ProtocolVersion.objects.filter(protocol__code="PADA1").count() == 2


@pytest.mark.django_db
def test_a_comment_only_edit_is_the_same_version_not_an_amendment():
    first = protocol_load(text=PADA1, source_name="pada1.yaml")
    recommented = protocol_load(
        text="# a reworded comment\n" + PADA1.replace("# GAP", "#  GAP"),
        source_name="pada1.yaml",
    )
    assert not recommented.created and recommented.version.pk == first.version.pk
    assert ProtocolVersion.objects.filter(protocol__code="PADA1").count() == 1


def test_schema_errors_name_the_file_the_path_and_the_problem():
    broken = PADA1.replace("cycle_length_days: 28", "cycle_length_days: -3")
    with pytest.raises(ProtocolInvalid) as info:
        protocol_parse(broken, source_name="pada1-bad.yaml")
    problem = info.value.details["problems"][0]
    assert problem["file"] == "pada1-bad.yaml"
    assert problem["path"] == "cycle_length_days"
    assert "minimum" in problem["message"]


def test_semantic_errors_are_reported_with_their_path():
    broken = PADA1.replace(
        'quantity: haemoglobin, op: ">=", value: 90, unit: g/L',
        'quantity: haemoglobin, op: ">=", value: 9, unit: g/dL',
    )
    with pytest.raises(ProtocolInvalid) as info:
        protocol_parse(broken, source_name="x.yaml")
    paths = [p["path"] for p in info.value.details["problems"]]
    assert "eligibility.inclusion[11].unit" in paths


def test_block_sizes_must_be_multiples_of_the_ratio():
    broken = PADA1.replace("block_sizes: [2, 4, 6]", "block_sizes: [3, 4]")
    with pytest.raises(ProtocolInvalid) as info:
        protocol_parse(broken, source_name="x.yaml")
    assert info.value.details["problems"][0]["path"] == "randomization.block_sizes[0]"


def test_invalid_yaml_names_the_line():
    with pytest.raises(ProtocolInvalid) as info:
        protocol_parse("trial: [unclosed", source_name="x.yaml")
    assert info.value.details["problems"][0]["path"].startswith("line ")


def test_both_shipped_protocols_are_valid():
    for name in ("pada1.yaml", "palatine.yaml"):
        doc = protocol_parse((PROTOCOL_DIR / name).read_text(), source_name=name)
        assert doc["cycle_length_days"] == 28
