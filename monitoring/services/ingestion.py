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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from monitoring.rules import ctdna as rules
from trial.exceptions import DomainError, NotFound, ReasonRequired
from trial.models import Patient
from trial.services.audit import audit_event_record, tracked_save
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
from ..selectors import lab_serves, previous_reported_result, result_versions
from . import payload as contract
from .outbox import outbox_enqueue_after_commit

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
            created_by=lab.service_user,
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
    """Store one result posted by ``lab`` (JSON or a batch item), or return the identical one.

    Errors: see the module docstring. Runs in its own durable transaction.
    """
    _check_payload(payload, today)
    with transaction.atomic(durable=True):
        return _ingest(
            lab=lab,
            payload=payload,  # type: ignore[arg-type]
            submission=submission,
            entry_indexes=entry_indexes,
        )


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
    outcomes: list[tuple[Sequence[int], IngestOutcome | DomainError]] = []
    with transaction.atomic(durable=True):
        for item, indexes in items:
            try:
                _check_payload(item, today)
                with transaction.atomic():
                    outcome: IngestOutcome | DomainError = _ingest(
                        lab=lab, payload=item, submission=submission, entry_indexes=indexes
                    )
            except DomainError as error:
                outcome = error
            outcomes.append((indexes, outcome))
        succeeded = not any(isinstance(o, DomainError) for _i, o in outcomes)
        if not succeeded:
            transaction.set_rollback(True)
    return outcomes, succeeded


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
    with transaction.atomic(durable=True):
        target = _own_result(lab, result_id)
        # Serialise the patient's results: the amendment's interpretation reads the others.
        patient = Patient.objects.select_for_update().get(pk=target.patient_id)
        if (payload["sample_id"], payload["patient_id"]) != (
            target.sample.sample_id,
            patient.trial_number,
        ):
            raise AmendmentMismatch(
                details={"sample_id": target.sample.sample_id, "patient_id": patient.trial_number}
            )
        sample, params = _references(lab, patient, payload)
        content = contract.canonical_content(payload, assay=payload.get("assay") or params.assay)
        digest = contract.content_sha256(content)
        versions = result_versions(lab=lab, sample=sample)
        current = versions[-1]
        successor = next((v for v in versions if v.version == target.version + 1), None)
        if successor is not None:
            if successor.content_sha256 == digest and successor.amendment_reason == reason.strip():
                return IngestOutcome(successor, created=False)
            raise ResultSuperseded(details={"current_result_id": current.pk})
        if digest == current.content_sha256:
            raise AmendmentUnchanged(details={"result_id": current.pk})
        result = _store(
            lab=lab,
            patient=patient,
            sample=sample,
            params=params,
            content=content,
            payload=payload,
            submission=submission,
            entry_indexes=(),
            amends=current,
            reason=reason.strip(),
        )
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


def _ingest(
    *,
    lab: Lab,
    payload: Mapping[str, Any],
    submission: LabSubmission,
    entry_indexes: Sequence[int],
) -> IngestOutcome:
    """Steps 3-6 inside the caller's transaction (payload already checked)."""
    # Serialise the patient's results: each interpretation reads the previous result.
    patient = (
        Patient.objects.select_for_update()
        .filter(trial_number=payload["patient_id"])
        .select_related("site", "protocol_version")
        .first()
    )
    if patient is None:
        raise UnknownPatient(details={"field": "patient_id", "patient_id": payload["patient_id"]})
    sample, params = _references(lab, patient, payload)
    content = contract.canonical_content(payload, assay=payload.get("assay") or params.assay)
    digest = contract.content_sha256(content)
    versions = result_versions(lab=lab, sample=sample)
    if versions:
        same = next((v for v in versions if v.content_sha256 == digest), None)
        if same is not None:
            return IngestOutcome(same, created=False)
        raise SampleConflict(
            details={"sample_id": sample.sample_id, "result_id": versions[-1].pk},
        )
    result = _store(
        lab=lab,
        patient=patient,
        sample=sample,
        params=params,
        content=content,
        payload=payload,
        submission=submission,
        entry_indexes=entry_indexes,
        amends=None,
        reason="",
    )
    return IngestOutcome(result, created=True)


def _references(
    lab: Lab, patient: Patient, payload: Mapping[str, Any]
) -> tuple[Sample, CtdnaParameters]:
    """Step 3 for a locked patient: served site, protocol, enrolment, sample, draw date."""
    if not lab_serves(lab=lab, site_id=patient.site_id):
        raise SiteNotServed(details={"field": "patient_id", "patient_id": payload["patient_id"]})
    params = ctdna_parameters(patient)
    enrolment = [
        p
        for p in rules.validate_result_payload(
            payload, today=dt.date.max, enrolled_on=patient.enrolled_on
        )
        if p.code == rules.ProblemCode.COLLECTED_BEFORE_ENROLMENT
    ]
    _raise_problems(enrolment)
    sample = Sample.objects.filter(sample_id=payload["sample_id"]).first()
    if sample is None:
        raise UnknownSample(details={"field": "sample_id", "sample_id": payload["sample_id"]})
    if sample.patient_id != patient.pk:
        raise SamplePatientMismatch(details={"field": "sample_id", "sample_id": sample.sample_id})
    collected_on = dt.date.fromisoformat(contract.iso_date(payload["collected_on"]))
    if collected_on != sample.drawn_on:
        raise CollectionDateMismatch(
            details={"field": "collected_on", "drawn_on": sample.drawn_on.isoformat()}
        )
    return sample, params


def ctdna_parameters(patient: Patient) -> CtdnaParameters:
    """Panel, thresholds and assay of the patient's protocol version (its ``ctdna`` block)."""
    block = patient.protocol_version.document.get("ctdna")
    if not isinstance(block, Mapping) or "panel" not in block or "rising" not in block:
        raise CtdnaNotMonitored(details={"protocol_version": patient.protocol_version_id})
    try:
        thresholds = rules.RisingThresholds.from_protocol(block["rising"])
        panel = tuple(block["panel"])
    except (KeyError, TypeError, ValueError) as error:
        raise ProtocolCtdnaInvalid(details={"problem": str(error)}) from error
    return CtdnaParameters(panel=panel, thresholds=thresholds, assay=str(block.get("assay", "")))


def _store(
    *,
    lab: Lab,
    patient: Patient,
    sample: Sample,
    params: CtdnaParameters,
    content: dict[str, Any],
    payload: Mapping[str, Any],
    submission: LabSubmission,
    entry_indexes: Sequence[int],
    amends: CtdnaResult | None,
    reason: str,
) -> CtdnaResult:
    """Steps 5-6: interpret and write the result, its variants, the outbox row, the sample."""
    collected_on = dt.date.fromisoformat(content["collected_on"])
    analysed_on = dt.date.fromisoformat(content["analysed_on"])
    previous = previous_reported_result(patient=patient, before=collected_on, exclude_sample=sample)
    interpretation = _interpret(content, previous, params)
    by = lab.service_user
    result = CtdnaResult(
        lab=lab,
        sample=sample,
        patient=patient,
        version=1 if amends is None else amends.version + 1,
        amends_id=None if amends is None else (amends.amends_id or amends.pk),
        amendment_reason=reason,
        submission=submission,
        entry_indexes=list(entry_indexes),
        payload=dict(payload),
        content_sha256=contract.content_sha256(content),
        collected_on=collected_on,
        analysed_on=analysed_on,
        assay=content["assay"],
        status=content["status"],
        failure_reason=content["failure_reason"] or "",
        patient_status=interpretation.status,
        next_action=interpretation.next_action,
        interpretation_reason=interpretation.reason,
        compared_with=previous if interpretation.compared_with_previous else None,
        no_longer_detected=list(interpretation.no_longer_detected),
        turnaround_days=(analysed_on - sample.drawn_on).days,
    )
    tracked_save(result, by=by, reason=reason or None)
    reported = [v["protein_change"] for v in payload.get("variants") or ()]
    for position, variant in enumerate(interpretation.variants):
        tracked_save(
            CtdnaVariant(
                result=result,
                position=position,
                gene=rules.SUPPORTED_GENE,
                protein_change=variant.protein_change,
                protein_change_reported=str(reported[position])[:64],
                vaf=variant.vaf,
                copies_per_ml=variant.copies_per_ml,
                in_panel=variant.in_panel,
                change=variant.change,
                previous_vaf=variant.previous_vaf,
                previous_copies_per_ml=variant.previous_copies_per_ml,
                reason=variant.reason,
            ),
            by=by,
        )
    _record_turnaround(sample, result)
    _after_interpretation(lab, patient, sample, result)
    return result


def _interpret(
    content: dict[str, Any], previous: CtdnaResult | None, params: CtdnaParameters
) -> rules.Interpretation:
    history: list[rules.CtdnaResult] = []
    status = None
    if previous is not None:
        history.append(
            rules.CtdnaResult(
                status=rules.SampleStatus.REPORTED,
                variants=tuple(
                    rules.VariantMeasurement(v.protein_change, v.vaf, v.copies_per_ml)
                    for v in previous.variants.all()
                ),
            )
        )
        status = rules.PatientStatus(previous.patient_status)
    return rules.interpret_result(
        result=rules.CtdnaResult.from_payload(content),
        previous=history,
        panel=params.panel,
        thresholds=params.thresholds,
        previous_status=status,
    )


def _record_turnaround(sample: Sample, result: CtdnaResult) -> None:
    """The sample's turnaround is draw to first result; amendments and other labs keep it."""
    if sample.first_result_on is not None:
        return
    sample.first_result_on = result.analysed_on
    sample.turnaround_days = result.turnaround_days
    tracked_save(
        sample,
        by=result.created_by,
        reason="first ctDNA result received",
        update_fields=["first_result_on", "turnaround_days"],
    )


def _after_interpretation(lab: Lab, patient: Patient, sample: Sample, result: CtdnaResult) -> None:
    audit_event_record(
        action="ctdna_result_received" if result.version == 1 else "ctdna_result_amended",
        actor=lab.service_user,
        patient=patient,
        obj=result,
        details={
            "lab": lab.code,
            "sample_id": sample.sample_id,
            "version": result.version,
            "status": result.status,
            "patient_status": result.patient_status,
            "next_action": result.next_action,
        },
    )
    if result.patient_status == PatientCtdnaStatus.RISING:
        outbox = TriggerOutbox.objects.create(result=result, patient=patient)
        outbox_enqueue_after_commit(outbox.pk)
    if result.status == SampleStatus.FAILED:
        notify_after_commit(
            recipients=site_staff_emails(patient.site),
            subject=_("ctDNA sample %(s)s failed: redraw requested for %(p)s")
            % {"s": sample.sample_id, "p": patient},
            body=_(
                "The laboratory %(lab)s could not analyse sample %(s)s drawn on %(d)s "
                "(%(why)s). Please draw a new ctDNA sample for %(p)s."
            )
            % {
                "lab": lab.name,
                "s": sample.sample_id,
                "d": sample.drawn_on,
                "why": result.failure_reason,
                "p": patient,
            },
        )


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
        CtdnaResult.objects.filter(lab=lab, pk=result_id).select_related("sample", "amends").first()
    )
    if result is None:
        raise NotFound()
    return result
