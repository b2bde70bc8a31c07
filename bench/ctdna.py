"""ctDNA lab ingestion workload: the samples sites record, and the bodies labs post.

Every result needs a sample the site recorded beforehand (ingestion refuses an unknown sample).
Sample ``i`` of a plan belongs to patient ``i mod P`` and was drawn ``i div P`` days after the
patients' enrolment, so each patient's results arrive in draw order, as a lab sends them. One
patient in ten carries an ESR1 mutation in every sample (baseline, then stable); the others
have none detected: mostly the common "not detected" path, with the variant path exercised,
and no rising result (the Step 2 trigger is not part of these figures).

The bodies follow the documented contract: they are built from the API's own examples
(``monitoring.api.examples``), with the ids and dates of each sample.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CARRIER_EVERY = 10


@dataclass(frozen=True)
class SampleRef:
    sample_id: str
    trial_number: str
    drawn_on: dt.date
    detected: bool

    @property
    def analysed_on(self) -> dt.date:
        return self.drawn_on + dt.timedelta(days=1)


def sample_plan(
    trial_numbers: Sequence[str], count: int, first_day: dt.date, *, start: int = 0
) -> list[SampleRef]:
    """Samples ``start`` to ``start + count - 1`` of the plan over ``trial_numbers``."""
    patients = len(trial_numbers)
    return [
        SampleRef(
            sample_id=f"BS-{i:07d}",
            trial_number=trial_numbers[i % patients],
            drawn_on=first_day + dt.timedelta(days=i // patients),
            detected=(i % patients) % CARRIER_EVERY == 0,
        )
        for i in range(start, start + count)
    ]


def plan_last_day(patients: int, count: int, first_day: dt.date) -> dt.date:
    """The draw date of the plan's last sample; its analysis is the day after."""
    return first_day + dt.timedelta(days=(count - 1) // patients)


def result_payload(ref: SampleRef, example: dict[str, Any]) -> dict[str, Any]:
    """The JSON contract's example with this sample's ids and dates; no variant when the
    patient carries none."""
    payload = copy.deepcopy(example)
    payload.update(
        sample_id=ref.sample_id,
        patient_id=ref.trial_number,
        collected_on=ref.drawn_on.isoformat(),
        analysed_on=ref.analysed_on.isoformat(),
    )
    if not ref.detected:
        payload["variants"] = []
    return payload


def _compact(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))


def json_bodies(refs: Sequence[SampleRef], example: dict[str, Any]) -> tuple[str, ...]:
    """One result per body (POST /api/v1/ctdna/results/)."""
    return tuple(_compact(result_payload(ref, example)) for ref in refs)


def _chunks(refs: Sequence[SampleRef], size: int) -> list[Sequence[SampleRef]]:
    """Full chunks only: every request carries exactly ``size`` results."""
    return [refs[i : i + size] for i in range(0, len(refs) - size + 1, size)]


def batch_bodies(refs: Sequence[SampleRef], example: dict[str, Any], size: int) -> tuple[str, ...]:
    """``size`` results per body (POST /api/v1/ctdna/results/batch/)."""
    return tuple(
        _compact([result_payload(ref, example) for ref in chunk]) for chunk in _chunks(refs, size)
    )


def fhir_observation(ref: SampleRef, example: dict[str, Any]) -> dict[str, Any]:
    """The FHIR example Observation for this sample: Present with the example's variant
    components, or Absent without them (an all-Absent specimen is "not detected")."""
    observation = copy.deepcopy(example)
    observation["subject"] = {"reference": f"Patient/{ref.trial_number}"}
    observation["specimen"] = {"reference": f"Specimen/{ref.sample_id}"}
    observation["effectiveDateTime"] = ref.drawn_on.isoformat()
    observation["issued"] = f"{ref.analysed_on.isoformat()}T09:30:00+01:00"
    if not ref.detected:
        observation["valueCodeableConcept"] = {
            "coding": [{"system": "http://loinc.org", "code": "LA9634-2", "display": "Absent"}]
        }
        observation["component"] = [
            c for c in observation["component"] if c["code"]["coding"][0]["code"] == "48018-6"
        ]
    return observation


def fhir_bodies(refs: Sequence[SampleRef], example: dict[str, Any], size: int) -> tuple[str, ...]:
    """Transaction Bundles of ``size`` Observations, one specimen each
    (POST /api/v1/fhir/, ``application/fhir+json``)."""
    bodies = []
    for chunk in _chunks(refs, size):
        entries = [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ref.sample_id)}",
                "resource": fhir_observation(ref, example),
                "request": {"method": "POST", "url": "Observation"},
            }
            for ref in chunk
        ]
        bodies.append(_compact({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    return tuple(bodies)
