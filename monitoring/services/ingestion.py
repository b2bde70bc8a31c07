"""Ingestion of ctDNA results: one code path for the JSON, batch and FHIR endpoints.

A result goes through, in this order (each step refuses with a stable code, nothing written):

1. shape (400): an object with the contract's keys (``payload.shape_problems``);
2. values (400, or 422 for ``date_in_future``, ``analysed_before_collected``): the pure rules
   of ``monitoring.rules.ctdna.validate_result_payload``;
3. references: the patient's trial number (422 ``unknown_patient``), a site the lab serves
   (403 ``site_not_served``), a protocol with ctDNA monitoring (422 ``ctdna_not_monitored``),
   a draw not before enrolment (422 ``collected_before_enrolment``), the sample id recorded by
   the site (422 ``unknown_sample``) for that patient (422 ``sample_patient_mismatch``), drawn
   on the day the lab says (422 ``collected_on_mismatch``: the turnaround starts at the draw). Unknown references are 422, not
   404: the endpoint exists, the body names something the trial does not hold;
4. idempotency: the lab and the sample identify a result. The same content again returns the
   stored result (``created=False``, HTTP 200); different content is 409 ``sample_conflict``
   (corrections go through :func:`ctdna_result_amend`);
5. interpretation against the patient's previous *reported* result by collection date (current
   versions, any lab), with the panel and thresholds of the patient's protocol version
   (``monitoring.rules.ctdna.interpret_result``);
6. storage in one transaction: the result, its variants (off-panel ones flagged
   ``in_panel=False``), the sample's turnaround (draw to first result), and for a ``rising``
   result a :class:`~monitoring.models.TriggerOutbox` row, enqueued after commit; for a failed
   sample a redraw request to the site's staff, after commit.

The patient row is locked for steps 3-6 so that concurrent results of one patient are
interpreted one after the other, each against the previous one.

A request's items go through these steps together: the reads of step 3-5 are made once for all
of them (``ingestion_lookups``), item by item in order in Python (an item sees the results of
the items before it), and the writes of step 6 are one INSERT per table (results, their history
rows, variants, audit events...), so the queries of a batch do not grow with its size. A
refused item writes nothing and does not stop the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from monitoring.rules import ctdna as rules
from trial.exceptions import DomainError, NotFound, ReasonRequired
from trial.models import AuditEvent, Patient
from trial.services.audit import audit_event_build, audit_events_record
from trial.services.notifications import notify_after_commit, site_staff_emails

from ..exceptions import (
    AmendmentMismatch,
    AmendmentUnchanged,
    CollectionDateMismatch,
    CtdnaNotMonitored,
    ProtocolCtdnaInvalid,
    ResultInvalid,
    ResultRuleViolation,
    ResultSuperseded,
    SampleConflict,
    SamplePatientMismatch,
    SiteNotServed,
    UnknownPatient,
    UnknownSample,
)
from ..models import (
    CtdnaResult,
    CtdnaVariant,
    Lab,
    LabSubmission,
    PatientCtdnaStatus,
    Sample,
    SampleStatus,
    TriggerOutbox,
)
from . import payload as contract
from .ingestion_lookups import IngestionLookups, PreviousResult
from .outbox import outbox_enqueue_after_commit

#: The change reason of a sample's history row when its first result fills its turnaround.
FIRST_RESULT_REASON = "first ctDNA result received"

#: Problem codes that are rule violations (422); every other problem code is a 400.
RULE_PROBLEM_CODES = frozenset(
    {
        rules.ProblemCode.DATE_IN_FUTURE,
        rules.ProblemCode.ANALYSED_BEFORE_COLLECTED,
        rules.ProblemCode.COLLECTED_BEFORE_ENROLMENT,
    }
)


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """The stored result; ``created`` is False for an identical replay."""

    result: CtdnaResult
    created: bool


@dataclass(frozen=True, slots=True)
class CtdnaParameters:
    """The ``ctdna`` block of a protocol version, ready for the rules."""

    panel: tuple[str, ...]
    thresholds: rules.RisingThresholds
    assay: str


def submission_record(*, lab: Lab, channel: str, media_type: str, body: bytes) -> LabSubmission:
    """Keep what a lab posted, verbatim, with the SHA-256 of the bytes, before reading it.

    Stored as text: bytes that are not UTF-8 (never valid JSON) are replaced, the digest is
    still of the bytes received.
    """
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    with transaction.atomic(durable=True):
        submission = LabSubmission(
            lab=lab,
            channel=channel,
            media_type=media_type[:100],
            body=text,
            body_sha256=contract.body_sha256(body),
            created_by_id=lab.service_user_id,
        )
        submission.save()
    return submission


def ctdna_result_ingest(
    *,
    lab: Lab,
    payload: object,
    submission: LabSubmission,
    today: dt.date,
    entry_indexes: Sequence[int] = (),
) -> IngestOutcome:
    """Store one result posted by ``lab`` (JSON contract), or return the identical one.

    Errors: see the module docstring. Runs in its own durable transaction.
    """
    with transaction.atomic(durable=True):
        (outcome,) = _ingest_items(lab, [(payload, entry_indexes)], submission, today)
        if isinstance(outcome, DomainError):
            raise outcome
    return outcome


def ctdna_results_ingest_batch(
    *,
    lab: Lab,
    items: Sequence[object],
    submission: LabSubmission,
    today: dt.date,
) -> list[IngestOutcome | DomainError]:
    """Store each result of a batch that passes every step; refuse the others one by one.

    Item ``i`` is stored with ``entry_indexes=[i]``. The answer has one outcome per item, in
    order: the stored (or identical, replayed) result, or the error refusing that item, which
    writes nothing and does not stop the others. One durable transaction.
    """
    with transaction.atomic(durable=True):
        return _ingest_items(lab, [(item, [i]) for i, item in enumerate(items)], submission, today)


def ctdna_results_ingest_all(
    *,
    lab: Lab,
    items: Sequence[tuple[Mapping[str, Any], Sequence[int]]],
    submission: LabSubmission,
    today: dt.date,
) -> tuple[list[tuple[Sequence[int], IngestOutcome | DomainError]], bool]:
    """Store every result or none (a FHIR transaction): each item's outcome, and whether all
    succeeded. Every item is tried so that every problem is reported; on any error the whole
    transaction rolls back and the returned results of the other items are not stored."""
    with transaction.atomic(durable=True):
        outcomes = _ingest_items(lab, items, submission, today)
        succeeded = not any(isinstance(o, DomainError) for o in outcomes)
        if not succeeded:
            transaction.set_rollback(True)
    return [(indexes, o) for (_item, indexes), o in zip(items, outcomes, strict=True)], succeeded


def ctdna_result_amend(
    *,
    lab: Lab,
    result_id: int,
    payload: object,
    reason: str,
    submission: LabSubmission,
    today: dt.date,
) -> IngestOutcome:
    """Correct a result: a new version pointing at the original, with the reason.

    ``result_id`` is the latest version (409 ``result_superseded`` otherwise). The sample and
    patient stay the same (422 ``amendment_mismatch``); content identical to the current
    version is 422 ``amendment_unchanged``, except the replay of this very amendment (same
    content and reason), which returns it (``created=False``). Another lab's result is 404.
    """
    if not (reason and reason.strip()):
        raise ReasonRequired()
    _check_payload(payload, today)
    assert isinstance(payload, Mapping)
    reason = reason.strip()
    with transaction.atomic(durable=True):
        target = _own_result(lab, result_id)
        if (payload["sample_id"], payload["patient_id"]) != (
            target.sample.sample_id,
            target.patient.trial_number,
        ):
            raise AmendmentMismatch(
                details={
                    "sample_id": target.sample.sample_id,
                    "patient_id": target.patient.trial_number,
                }
            )
        # Locks the patient: the amendment's interpretation reads the patient's other results.
        lookups = IngestionLookups(lab=lab, payloads=[payload])
        run = _Run(lab, lookups, submission)
        patient, sample, params = run.references(payload)
        content = contract.canonical_content(payload, assay=payload.get("assay") or params.assay)
        digest = contract.content_sha256(content)
        versions = lookups.versions(sample)
        current = versions[-1]
        successor = next((v for v in versions if v.version == target.version + 1), None)
        if successor is not None:
            if successor.content_sha256 == digest and successor.amendment_reason == reason:
                return IngestOutcome(successor, created=False)
            raise ResultSuperseded(details={"current_result_id": current.pk})
        if digest == current.content_sha256:
            raise AmendmentUnchanged(details={"result_id": current.pk})
        result = run.make(
            patient=patient,
            sample=sample,
            params=params,
            content=content,
            digest=digest,
            payload=payload,
            entry_indexes=(),
            amends=current,
            reason=reason,
        )
        run.write()
        if current.patient_status == PatientCtdnaStatus.RISING != result.patient_status:
            _notify_rising_withdrawn(patient, result)
        return IngestOutcome(result, created=True)


# --- steps ---------------------------------------------------------------------------------


def _check_payload(payload: object, today: dt.date) -> None:
    """Steps 1-2: shape, then values (without the enrolment date, checked with the patient)."""
    problems = contract.shape_problems(payload)
    if not problems:
        problems = rules.validate_result_payload(payload, today=today)  # type: ignore[arg-type]
    _raise_problems(problems)


def _raise_problems(problems: Sequence[rules.Problem]) -> None:
    if not problems:
        return
    invalid = [p for p in problems if p.code not in RULE_PROBLEM_CODES]
    first = (invalid or list(problems))[0]
    error = ResultInvalid if invalid else ResultRuleViolation
    raise error(
        first.message,
        {
            "field": first.field,
            "problems": [
                {"field": p.field, "code": str(p.code), "message": p.message} for p in problems
            ],
        },
        code=str(first.code),
    )


def _ingest_items(
    lab: Lab,
    items: Sequence[tuple[object, Sequence[int]]],
    submission: LabSubmission,
    today: dt.date,
) -> list[IngestOutcome | DomainError]:
    """Steps 1-6 for every item, in order, inside the caller's transaction."""
    checked: list[DomainError | None] = []
    for item, _indexes in items:
        try:
            _check_payload(item, today)
        except DomainError as error:
            checked.append(error)
        else:
            checked.append(None)
    valid = [item for (item, _i), error in zip(items, checked, strict=True) if error is None]
    if not valid:
        return [error for error in checked if error is not None]
    run = _Run(lab, IngestionLookups(lab=lab, payloads=valid), submission)  # type: ignore[arg-type]
    outcomes: list[IngestOutcome | DomainError] = []
    for (item, indexes), error in zip(items, checked, strict=True):
        if error is None:
            try:
                outcomes.append(run.ingest(item, indexes))  # type: ignore[arg-type]
            except DomainError as refused:
                outcomes.append(refused)
        else:
            outcomes.append(error)
    run.write()
    return outcomes


@dataclass(slots=True)
class _Made:
    """A result made by this request, with what its writes need; not yet in the database."""

    result: CtdnaResult
    variants: list[CtdnaVariant]
    patient: Patient
    sample: Sample
    compared_with_made: CtdnaResult | None
    first_result: bool


class _Run:
    """Steps 3-6 for the items of one request: checks and interpretation item by item against
    ``lookups``, then :meth:`write` stores everything made, a few INSERTs per table."""

    def __init__(self, lab: Lab, lookups: IngestionLookups, submission: LabSubmission) -> None:
        self.lab = lab
        self.by = lab.service_user
        self.lookups = lookups
        self.submission = submission
        self.made: list[_Made] = []
        self._parameters: dict[int, CtdnaParameters] = {}

    def ingest(self, payload: Mapping[str, Any], entry_indexes: Sequence[int]) -> IngestOutcome:
        """Steps 3-5 of one checked item, and its result made (written by :meth:`write`)."""
        patient, sample, params = self.references(payload)
        content = contract.canonical_content(payload, assay=payload.get("assay") or params.assay)
        digest = contract.content_sha256(content)
        versions = self.lookups.versions(sample)
        if versions:
            same = next((v for v in versions if v.content_sha256 == digest), None)
            if same is not None:
                return IngestOutcome(same, created=False)
            raise SampleConflict(
                details={"sample_id": sample.sample_id, "result_id": versions[-1].pk},
            )
        result = self.make(
            patient=patient,
            sample=sample,
            params=params,
            content=content,
            digest=digest,
            payload=payload,
            entry_indexes=entry_indexes,
            amends=None,
            reason="",
        )
        return IngestOutcome(result, created=True)

    def references(self, payload: Mapping[str, Any]) -> tuple[Patient, Sample, CtdnaParameters]:
        """Step 3: patient, served site, protocol, enrolment, sample, draw date."""
        patient = self.lookups.patients.get(payload["patient_id"])
        if patient is None:
            raise UnknownPatient(
                details={"field": "patient_id", "patient_id": payload["patient_id"]}
            )
        if patient.site_id not in self.lookups.served_site_ids:
            raise SiteNotServed(
                details={"field": "patient_id", "patient_id": payload["patient_id"]}
            )
        params = self._parameters_of(patient)
        collected_on = dt.date.fromisoformat(contract.iso_date(payload["collected_on"]))
        if patient.enrolled_on is not None:
            # The payload's other values were checked before (step 2): only this one is left.
            _raise_problems(rules.enrolment_problems(collected_on, enrolled_on=patient.enrolled_on))
        sample = self.lookups.samples.get(payload["sample_id"])
        if sample is None:
            raise UnknownSample(details={"field": "sample_id", "sample_id": payload["sample_id"]})
        if sample.patient_id != patient.pk:
            raise SamplePatientMismatch(
                details={"field": "sample_id", "sample_id": sample.sample_id}
            )
        if collected_on != sample.drawn_on:
            raise CollectionDateMismatch(
                details={"field": "collected_on", "drawn_on": sample.drawn_on.isoformat()}
            )
        return patient, sample, params

    def _parameters_of(self, patient: Patient) -> CtdnaParameters:
        params = self._parameters.get(patient.protocol_version_id)
        if params is None:
            params = ctdna_block_parameters(
                self.lookups.ctdna_blocks[patient.protocol_version_id],
                protocol_version_id=patient.protocol_version_id,
            )
            self._parameters[patient.protocol_version_id] = params
        return params

    def make(
        self,
        *,
        patient: Patient,
        sample: Sample,
        params: CtdnaParameters,
        content: dict[str, Any],
        digest: str,
        payload: Mapping[str, Any],
        entry_indexes: Sequence[int],
        amends: CtdnaResult | None,
        reason: str,
    ) -> CtdnaResult:
        """Step 5 and the rows of step 6: the interpreted result and its variants, unsaved."""
        collected_on = dt.date.fromisoformat(content["collected_on"])
        analysed_on = dt.date.fromisoformat(content["analysed_on"])
        previous = self.lookups.previous(patient=patient, sample=sample)
        interpretation = _interpret(content, previous, params)
        compared = previous if interpretation.compared_with_previous else None
        result = CtdnaResult(
            lab=self.lab,
            sample=sample,
            patient=patient,
            version=1 if amends is None else amends.version + 1,
            amends_id=None if amends is None else (amends.amends_id or amends.pk),
            amendment_reason=reason,
            submission=self.submission,
            entry_indexes=list(entry_indexes),
            payload=dict(payload),
            content_sha256=digest,
            collected_on=collected_on,
            analysed_on=analysed_on,
            assay=content["assay"],
            status=content["status"],
            failure_reason=content["failure_reason"] or "",
            patient_status=interpretation.status,
            next_action=interpretation.next_action,
            interpretation_reason=interpretation.reason,
            compared_with_id=None if compared is None else compared.pk,
            no_longer_detected=list(interpretation.no_longer_detected),
            turnaround_days=(analysed_on - sample.drawn_on).days,
            created_by=self.by,
        )
        # The history row of a creation has no reason; an amendment's carries it.
        result._change_reason = reason or None  # type: ignore[attr-defined]
        reported = [v["protein_change"] for v in payload.get("variants") or ()]
        variants = [
            CtdnaVariant(
                result=result,
                position=position,
                gene=rules.SUPPORTED_GENE,
                protein_change=variant.protein_change,
                protein_change_reported=str(reported[position])[:64],
                vaf=_float(variant.vaf),
                copies_per_ml=_float(variant.copies_per_ml),
                in_panel=variant.in_panel,
                change=variant.change,
                previous_vaf=_float(variant.previous_vaf),
                previous_copies_per_ml=_float(variant.previous_copies_per_ml),
                reason=variant.reason,
            )
            for position, variant in enumerate(interpretation.variants)
        ]
        # The sample's turnaround is draw to first result; amendments and other labs keep it.
        first_result = sample.first_result_on is None
        if first_result:
            sample.first_result_on = result.analysed_on
            sample.turnaround_days = result.turnaround_days
        if compared is not None and compared.made is not None:
            result.compared_with = compared.made  # its id is known once it is written
        self.made.append(
            _Made(
                result=result,
                variants=variants,
                patient=patient,
                sample=sample,
                compared_with_made=None if compared is None else compared.made,
                first_result=first_result,
            )
        )
        self.lookups.remember(result, interpretation.variants)
        return result

    def write(self) -> None:
        """Step 6 for everything made: results with their history rows, variants, samples'
        turnaround, audit events, outbox rows and after-commit messages."""
        if not self.made:
            return
        self._write_results()
        variants = [v for made in self.made for v in made.variants]
        if variants:
            bulk_create_with_history(variants, CtdnaVariant, default_user=self.by)
        for made in self.made:
            _attach_variants(made.result, made.variants)
        self._write_turnarounds([made.sample for made in self.made if made.first_result])
        audit_events_record([self._audit_event(made) for made in self.made])
        rising = [m for m in self.made if m.result.patient_status == PatientCtdnaStatus.RISING]
        if rising:
            rows = TriggerOutbox.objects.bulk_create(
                [TriggerOutbox(result=m.result, patient=m.patient) for m in rising]
            )
            for row in rows:
                outbox_enqueue_after_commit(row.pk)
        self._request_redraws()

    def _write_results(self) -> None:
        """One INSERT (and one for the history rows) per wave: a result compared with another
        made by this request waits for the next wave, which knows that one's id. A wave holds
        every result whose comparison is stored, so there are as many waves as results of one
        patient chained in the request (one, for a batch of distinct patients)."""
        pending = self.made
        while pending:
            wave = [
                m
                for m in pending
                if m.compared_with_made is None or m.compared_with_made.pk is not None
            ]
            bulk_create_with_history([m.result for m in wave], CtdnaResult, default_user=self.by)
            pending = [m for m in pending if m.result.pk is None]

    def _write_turnarounds(self, samples: list[Sample]) -> None:
        """The samples' first result and turnaround, copied from the result just written (one
        UPDATE whatever the number of samples), and their history rows with the reason."""
        if not samples:
            return
        first = CtdnaResult.objects.filter(sample=OuterRef("pk")).order_by("pk")
        Sample.objects.filter(pk__in=[s.pk for s in samples]).update(
            first_result_on=Subquery(first.values("analysed_on")[:1]),
            turnaround_days=Subquery(first.values("turnaround_days")[:1]),
        )
        Sample.history.bulk_history_create(  # type: ignore[attr-defined]
            samples,
            update=True,
            default_user=self.by,
            default_change_reason=FIRST_RESULT_REASON,
        )

    def _audit_event(self, made: _Made) -> AuditEvent:
        result = made.result
        return audit_event_build(
            action="ctdna_result_received" if result.version == 1 else "ctdna_result_amended",
            actor=self.by,
            patient=made.patient,
            obj=result,
            details={
                "lab": self.lab.code,
                "sample_id": made.sample.sample_id,
                "version": result.version,
                "status": result.status,
                "patient_status": result.patient_status,
                "next_action": result.next_action,
            },
        )

    def _request_redraws(self) -> None:
        """A failed sample asks the site's staff for a new draw, after commit."""
        emails: dict[int, list[str]] = {}
        for made in self.made:
            result, sample, patient = made.result, made.sample, made.patient
            if result.status != SampleStatus.FAILED:
                continue
            if patient.site_id not in emails:
                emails[patient.site_id] = site_staff_emails(patient.site)
            notify_after_commit(
                recipients=emails[patient.site_id],
                subject=_("ctDNA sample %(s)s failed: redraw requested for %(p)s")
                % {"s": sample.sample_id, "p": patient},
                body=_(
                    "The laboratory %(lab)s could not analyse sample %(s)s drawn on %(d)s "
                    "(%(why)s). Please draw a new ctDNA sample for %(p)s."
                )
                % {
                    "lab": self.lab.name,
                    "s": sample.sample_id,
                    "d": sample.drawn_on,
                    "why": result.failure_reason,
                    "p": patient,
                },
            )


def ctdna_parameters(patient: Patient) -> CtdnaParameters:
    """Panel, thresholds and assay of the patient's protocol version (its ``ctdna`` block)."""
    return ctdna_block_parameters(
        patient.protocol_version.document.get("ctdna"),
        protocol_version_id=patient.protocol_version_id,
    )


def ctdna_block_parameters(block: object, *, protocol_version_id: int) -> CtdnaParameters:
    """Panel, thresholds and assay of a protocol version's ``ctdna`` block.

    Errors: ``ctdna_not_monitored`` without a panel and thresholds, ``protocol_ctdna_invalid``
    when they cannot be read.
    """
    if not isinstance(block, Mapping) or "panel" not in block or "rising" not in block:
        raise CtdnaNotMonitored(details={"protocol_version": protocol_version_id})
    try:
        thresholds = rules.RisingThresholds.from_protocol(block["rising"])
        panel = tuple(block["panel"])
    except (KeyError, TypeError, ValueError) as error:
        raise ProtocolCtdnaInvalid(details={"problem": str(error)}) from error
    return CtdnaParameters(panel=panel, thresholds=thresholds, assay=str(block.get("assay", "")))


def _interpret(
    content: dict[str, Any], previous: PreviousResult | None, params: CtdnaParameters
) -> rules.Interpretation:
    history: list[rules.CtdnaResult] = []
    status = None
    if previous is not None:
        history.append(
            rules.CtdnaResult(status=rules.SampleStatus.REPORTED, variants=previous.measurements)
        )
        status = rules.PatientStatus(previous.patient_status)
    return rules.interpret_result(
        result=rules.CtdnaResult.from_payload(content),
        previous=history,
        panel=params.panel,
        thresholds=params.thresholds,
        previous_status=status,
    )


def _attach_variants(result: CtdnaResult, variants: list[CtdnaVariant]) -> None:
    """Give a result just written its variants as if prefetched (``result.variants.all()``
    answers them, in position order, without a query), as ``prefetch_related`` does."""
    rows = CtdnaVariant.objects.filter(result=result)
    rows._result_cache = variants  # type: ignore[attr-defined]
    rows._prefetch_done = True  # type: ignore[attr-defined]
    result._prefetched_objects_cache = {"variants": rows}  # type: ignore[attr-defined]


def _float(value: float | None) -> float | None:
    """A measurement as the database gives it back (``14`` is stored and read as ``14.0``)."""
    return None if value is None else float(value)


def _notify_rising_withdrawn(patient: Patient, result: CtdnaResult) -> None:
    notify_after_commit(
        recipients=site_staff_emails(patient.site),
        subject=_("Amended ctDNA result for %(p)s is no longer rising") % {"p": patient},
        body=_(
            "The laboratory amended sample %(s)s (%(why)s): the patient's ctDNA status is now "
            "%(status)s. Review any open Step 2 trigger for %(p)s."
        )
        % {
            "s": result.sample.sample_id,
            "why": result.amendment_reason,
            "status": result.get_patient_status_display(),
            "p": patient,
        },
    )


def _own_result(lab: Lab, result_id: int) -> CtdnaResult:
    result = (
        CtdnaResult.objects.filter(lab=lab, pk=result_id)
        .select_related("sample", "patient", "amends")
        .first()
    )
    if result is None:
        raise NotFound()
    return result
