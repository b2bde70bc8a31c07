"""What the results of one request read from the database, in a fixed number of queries.

A request carries one result (JSON, amendment) or many (batch, FHIR Bundle). Reading the
patient, the sample, the lab's earlier versions and the previous reported result item by item
costs a dozen queries per result; :class:`IngestionLookups` reads them for every item at once,
after locking the patients, so a batch of 500 costs the same queries as a batch of one:

1. the patients, locked (``SELECT ... FOR UPDATE`` of the patient rows only), each with the
   ``ctdna`` block of its protocol version and whether the lab serves its site;
2. the samples;
3. the patients' results in brief (ids, lab, sample, version, status, dates: no payload), from
   which the current versions, the previous reported result of each sample (the patient's
   latest current reported result drawn before it, any lab, the sample itself excluded; by
   collection date, then arrival) and the lab's earlier results are found in Python;
4. only when some sample has a previous result: the variants of those previous results;
5. only when the lab already stored a result for some sample (a replay, a conflict, an
   amendment): those versions in full.

Simple queries on purpose: the same reads as correlated subqueries took one round trip fewer
but cost more to compile in the ORM than several plain queries cost to run. The exceptions ride
on the patients' query, which is made anyway: a key of the protocol version's document through
a join, and whether the lab serves the site through one EXISTS (two round trips fewer).

Results made earlier in the same request are added as they are made (:meth:`remember`), so
item ``n`` sees items ``0..n-1`` exactly as if each had been posted on its own, in order.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db.models import Exists, OuterRef
from django.db.models.fields.json import KeyTransform

from monitoring.rules import ctdna as rules
from trial.models import Patient

from ..models import CtdnaResult, CtdnaVariant, Lab, Sample, SampleStatus

#: Rank of a previous result stored before the request, below one made during it: on the same
#: collection date the later arrival wins.
_STORED, _THIS_REQUEST = 0, 1


class _Brief(NamedTuple):
    pk: int
    lab_id: int
    sample_id: int
    version: int
    status: str
    collected_on: dt.date
    created_at: dt.datetime
    patient_id: int
    patient_status: str


@dataclass(frozen=True, slots=True)
class PreviousResult:
    """A reported result the next one of its patient may be compared with: stored (``pk``)
    or made earlier in this request (``made``, whose id comes when it is written)."""

    pk: int | None
    made: CtdnaResult | None
    patient_status: str
    measurements: tuple[rules.VariantMeasurement, ...]
    rank: tuple[Any, ...]


class IngestionLookups:
    """The rows the items of one request need, loaded once; call inside the transaction that
    stores the results, since it takes the patients' locks."""

    def __init__(self, *, lab: Lab, payloads: Iterable[Mapping[str, Any]]) -> None:
        payloads = list(payloads)
        self.lab = lab
        # Serialise each patient's results: every interpretation reads the previous result.
        # Only the patient rows are locked (not the site's or the protocol's, which would
        # serialise every lab), in primary-key order so that two requests naming the same
        # patients queue instead of deadlocking.
        served = Lab.sites.through.objects.filter(lab=lab, site=OuterRef("site_id"))
        patients = (
            Patient.objects.select_for_update(of=("self",))
            .select_related("site")
            .annotate(
                lab_serves_site=Exists(served),
                ctdna_block=KeyTransform("ctdna", "protocol_version__document"),
            )
            .filter(trial_number__in={p["patient_id"] for p in payloads})
            .order_by("pk")
        )
        self.patients: dict[str, Patient] = {p.trial_number: p for p in patients}  # type: ignore[misc]
        #: The ``ctdna`` block of each protocol version (None without one).
        self.ctdna_blocks: dict[int, Any] = {
            p.protocol_version_id: p.ctdna_block  # type: ignore[attr-defined]
            for p in self.patients.values()
        }
        #: The patients' sites that the lab serves.
        self.served_site_ids: frozenset[int] = frozenset(
            p.site_id
            for p in self.patients.values()
            if p.lab_serves_site  # type: ignore[attr-defined]
        )
        self.samples: dict[str, Sample] = {}
        self._stored_previous: dict[int, PreviousResult] = {}
        self._versions: dict[int, list[CtdnaResult]] = defaultdict(list)
        self._made: dict[int, list[PreviousResult]] = defaultdict(list)
        self._made_count = 0
        if not self.patients:
            return
        samples = Sample.objects.filter(sample_id__in={p["sample_id"] for p in payloads})
        self.samples = {s.sample_id: s for s in samples}
        if self.samples:
            self._load_results()

    def _load_results(self) -> None:
        patient_ids = [p.pk for p in self.patients.values()]
        briefs = [
            _Brief(*row)
            for row in CtdnaResult.objects.filter(patient__in=patient_ids).values_list(
                *_Brief._fields
            )
        ]
        latest: dict[tuple[int, int], int] = {}
        for b in briefs:
            latest[b.lab_id, b.sample_id] = max(b.version, latest.get((b.lab_id, b.sample_id), 0))
        current: dict[int, list[_Brief]] = defaultdict(list)
        for b in briefs:
            if b.status == SampleStatus.REPORTED and b.version == latest[b.lab_id, b.sample_id]:
                current[b.patient_id].append(b)
        previous: dict[int, _Brief] = {}
        for sample in self.samples.values():
            earlier = [
                b
                for b in current[sample.patient_id]
                if b.collected_on < sample.drawn_on and b.sample_id != sample.pk
            ]
            if earlier:
                previous[sample.pk] = max(
                    earlier, key=lambda b: (b.collected_on, b.created_at, b.pk)
                )
        measurements: dict[int, list[rules.VariantMeasurement]] = defaultdict(list)
        if previous:
            variants = CtdnaVariant.objects.filter(
                result__in={b.pk for b in previous.values()}
            ).order_by("result", "position")
            for v in variants:
                measurements[v.result_id].append(
                    rules.VariantMeasurement(v.protein_change, v.vaf, v.copies_per_ml)
                )
        self._stored_previous = {
            sample_pk: PreviousResult(
                pk=b.pk,
                made=None,
                patient_status=b.patient_status,
                measurements=tuple(measurements[b.pk]),
                rank=(b.collected_on, _STORED, b.created_at, b.pk),
            )
            for sample_pk, b in previous.items()
        }
        sample_pks = {s.pk for s in self.samples.values()}
        stored = {
            b.sample_id for b in briefs if b.lab_id == self.lab.pk and b.sample_id in sample_pks
        }
        if stored:
            versions = CtdnaResult.objects.filter(lab=self.lab, sample__in=stored).order_by(
                "version"
            )
            for result in versions:
                self._versions[result.sample_id].append(result)

    def versions(self, sample: Sample) -> list[CtdnaResult]:
        """The lab's versions of ``sample``, oldest first, those of this request included."""
        return self._versions[sample.pk]

    def previous(self, *, patient: Patient, sample: Sample) -> PreviousResult | None:
        """The patient's latest reported result drawn before ``sample`` (stored before this
        request or made earlier in it), or None."""
        best = self._stored_previous.get(sample.pk)
        for made in self._made[patient.pk]:
            result = made.made
            assert result is not None
            if (
                result.collected_on < sample.drawn_on
                and result.sample_id != sample.pk
                and (best is None or made.rank > best.rank)
            ):
                best = made
        return best

    def remember(
        self, result: CtdnaResult, variants: Iterable[rules.VariantInterpretation]
    ) -> None:
        """Add a result made by this request (not yet written) for the items after it."""
        self._versions[result.sample_id].append(result)
        if result.status != SampleStatus.REPORTED:
            return
        self._made_count += 1
        self._made[result.patient_id].append(
            PreviousResult(
                pk=None,
                made=result,
                patient_status=result.patient_status,
                measurements=tuple(
                    # As the database gives them back, as for a stored result.
                    rules.VariantMeasurement(
                        v.protein_change, _float(v.vaf), _float(v.copies_per_ml)
                    )
                    for v in variants
                ),
                rank=(result.collected_on, _THIS_REQUEST, self._made_count),
            )
        )


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
