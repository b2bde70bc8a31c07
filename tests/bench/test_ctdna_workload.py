"""The ctDNA workload: samples per patient in draw order, bodies in the documented contract."""

import datetime as dt
import json

from bench.ctdna import (
    batch_bodies,
    fhir_bodies,
    json_bodies,
    plan_last_day,
    result_payload,
    sample_plan,
)
from bench.web import split_bodies
from monitoring import fhir_parse
from monitoring.api import examples

DAY0 = dt.date(2026, 1, 5)
PATIENTS = [f"PADA1-BN01-{n:04d}" for n in range(1, 21)]


def test_sample_plan_spreads_samples_over_patients_in_draw_order():
    refs = sample_plan(PATIENTS, 45, DAY0)
    assert [r.sample_id for r in refs[:2]] == ["BS-0000000", "BS-0000001"]
    assert len({r.sample_id for r in refs}) == 45
    first_patient = [r for r in refs if r.trial_number == PATIENTS[0]]
    assert [r.drawn_on for r in first_patient] == [
        DAY0,
        DAY0 + dt.timedelta(days=1),
        DAY0 + dt.timedelta(days=2),
    ]
    assert refs[-1].drawn_on == plan_last_day(len(PATIENTS), 45, DAY0)
    assert refs[0].analysed_on == DAY0 + dt.timedelta(days=1)


def test_one_patient_in_ten_carries_a_mutation_in_every_sample():
    refs = sample_plan(PATIENTS, 40, DAY0)
    carriers = {r.trial_number for r in refs if r.detected}
    assert carriers == {PATIENTS[0], PATIENTS[10]}
    assert all(r.detected for r in refs if r.trial_number in carriers)


def test_a_plan_can_start_anywhere():
    assert sample_plan(PATIENTS, 3, DAY0, start=40) == sample_plan(PATIENTS, 43, DAY0)[40:]


def test_result_payload_follows_the_documented_example():
    carrier, other = sample_plan(PATIENTS, 2, DAY0)
    payload = result_payload(carrier, examples.RESULT)
    assert payload == {
        **examples.RESULT,
        "sample_id": "BS-0000000",
        "patient_id": PATIENTS[0],
        "collected_on": "2026-01-05",
        "analysed_on": "2026-01-06",
    }
    assert result_payload(other, examples.RESULT)["variants"] == []
    assert examples.RESULT["sample_id"] == "S-000123"  # the example itself is left alone


def test_bodies_are_one_line_each_and_batches_are_full():
    refs = sample_plan(PATIENTS, 25, DAY0)
    singles = json_bodies(refs, examples.RESULT)
    assert len(singles) == 25
    assert all("\n" not in body for body in singles)
    batches = batch_bodies(refs, examples.RESULT, 10)
    assert [len(json.loads(b)) for b in batches] == [10, 10]
    assert json.loads(batches[1])[0]["sample_id"] == "BS-0000010"


def test_fhir_bundles_parse_into_the_same_payloads_as_the_json_contract():
    refs = sample_plan(PATIENTS, 12, DAY0)
    (bundle,) = fhir_bodies(refs[:10], examples.FHIR_OBSERVATION, 10)
    parsed, problems = fhir_parse.parse_bundle(json.loads(bundle), default_assay="ddPCR")
    assert problems == []
    assert [p.payload["sample_id"] for p in parsed] == [r.sample_id for r in refs[:10]]
    carrier = parsed[0].payload
    assert (carrier["collected_on"], carrier["analysed_on"]) == ("2026-01-05", "2026-01-06")
    assert [v["protein_change"] for v in carrier["variants"]] == ["p.D538G"]
    assert parsed[1].payload["variants"] == []


def test_bodies_are_shared_between_warm_up_and_measurement_by_duration():
    bodies = tuple(str(i) for i in range(100))
    warmup, measured = split_bodies(bodies, 3, 10)
    assert (len(warmup), len(measured)) == (23, 77)
    assert warmup + measured == bodies
    assert split_bodies(None, 3, 10) == (None, None)
