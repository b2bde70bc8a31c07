"""Adverse events and the serious adverse event (SAE) reporting clock.

A serious adverse event notifies the site's investigators and the sponsor's safety contact
(``settings.SPONSOR_SAFETY_EMAIL``) once the record commits, and starts a reporting clock of
``schedule.reminders.sae_reporting_hours`` hours (24 in both protocols); the admin shows the
SAE as overdue when it has not been reported in time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trial.exceptions import InvalidInput
from trial.models import AdverseEvent, Attribution, Patient, Role, TreatmentLine
from trial.selectors import clinical_history  # noqa: F401  (registers the audit trail)
from trial.selectors.access import CORRECTION_ROLES, require_site_writer

from .audit import audit_event_record, tracked_save
from .errors import NotSerious, SaeAlreadyReported
from .lines import check_clinical_date, require_enrolled
from .notifications import notify_after_commit, site_staff_emails

DEFAULT_SAE_REPORTING_HOURS = 24


def sae_reporting_hours(patient: Patient) -> int:
    reminders = patient.protocol_version.document["schedule"].get("reminders", {})
    return int(reminders.get("sae_reporting_hours", DEFAULT_SAE_REPORTING_HOURS))


def adverse_event_record(
    *,
    patient: Patient,
    by: Any,
    term: str,
    grade: int,
    onset_on: dt.date,
    attribution: str,
    serious: bool,
    today: dt.date,
    resolved_on: dt.date | None = None,
    description: str = "",
) -> AdverseEvent:
    """Record an adverse event graded with the protocol's CTCAE version.

    Errors: invalid_input (grade outside 1-5, unknown attribution, resolution before onset),
    date_in_future, date_before_enrolment, not_enrolled; not_found / role_not_allowed.
    """
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 5:
        raise InvalidInput(_("The CTCAE grade is 1 to 5."), {"grade": grade})
    if attribution not in Attribution.values:
        raise InvalidInput(_("Unknown attribution."), {"attribution": attribution})
    check_clinical_date(patient, onset_on, today=today, field="onset_on")
    if resolved_on is not None:
        check_clinical_date(patient, resolved_on, today=today, field="resolved_on")
        if resolved_on < onset_on:
            raise InvalidInput(
                _("The resolution cannot precede the onset."),
                {"onset_on": str(onset_on), "resolved_on": str(resolved_on)},
                code="resolution_before_onset",
            )
    with transaction.atomic(durable=True):
        event = AdverseEvent(
            patient=patient,
            line=TreatmentLine.objects.filter(patient=patient, ended_on=None).first(),
            term=term.strip(),
            grade=grade,
            ctcae_version=patient.protocol_version.document["trial"]["ctcae_version"],
            onset_on=onset_on,
            resolved_on=resolved_on,
            attribution=attribution,
            serious=serious,
            description=description.strip(),
        )
        if serious:
            now = timezone.now()
            event.sae_clock_started_at = now
            event.sae_report_due_at = now + dt.timedelta(hours=sae_reporting_hours(patient))
        tracked_save(event, by=by)
        if serious:
            _notify_sae(event)
    return event


def _notify_sae(event: AdverseEvent) -> None:
    patient = event.patient
    audit_event_record(
        action="sae_notified",
        patient=patient,
        obj=event,
        details={"due_at": event.sae_report_due_at.isoformat()},  # type: ignore[union-attr]
    )
    notify_after_commit(
        recipients=[
            *site_staff_emails(patient.site, roles=[Role.INVESTIGATOR]),
            settings.SPONSOR_SAFETY_EMAIL,
        ],
        subject=_("Serious adverse event: %(p)s, %(term)s grade %(g)s")
        % {"p": patient, "term": event.term, "g": event.grade},
        body=_(
            "A serious adverse event was recorded for %(p)s: %(term)s, CTCAE grade %(g)s "
            "(v%(v)s), onset %(onset)s, attribution %(attr)s. It must be reported to the "
            "sponsor by %(due)s."
        )
        % {
            "p": patient,
            "term": event.term,
            "g": event.grade,
            "v": event.ctcae_version,
            "onset": event.onset_on,
            "attr": event.get_attribution_display(),
            "due": timezone.localtime(event.sae_report_due_at),
        },
    )


def _locked(event: AdverseEvent) -> AdverseEvent:
    # Lock the event: concurrent edits of one event apply one after the other. Only the event:
    # the joined patient row is read, not written, and locking it would stall its other writers.
    return (
        AdverseEvent.objects.select_for_update(of=("self",))
        .select_related("patient")
        .get(pk=event.pk)
    )


def adverse_event_sae_report(*, event: AdverseEvent, by: Any) -> AdverseEvent:
    """Record that the SAE was reported to the sponsor now: stops its clock.
    Errors: not_serious, sae_already_reported; not_found / role_not_allowed."""
    require_site_writer(by, event.patient.site, CORRECTION_ROLES)
    with transaction.atomic(durable=True):
        locked = _locked(event)
        if not locked.serious:
            raise NotSerious()
        if locked.sae_reported_at is not None:
            raise SaeAlreadyReported(details={"reported_at": locked.sae_reported_at.isoformat()})
        locked.sae_reported_at = timezone.now()
        tracked_save(
            locked, by=by, reason="reported to the sponsor", update_fields=["sae_reported_at"]
        )
    return locked


def adverse_event_resolve(
    *, event: AdverseEvent, by: Any, resolved_on: dt.date, reason: str, today: dt.date
) -> AdverseEvent:
    """Record the resolution date. Errors: resolution_before_onset, date_in_future,
    reason_required."""
    require_site_writer(by, event.patient.site, CORRECTION_ROLES)
    check_clinical_date(event.patient, resolved_on, today=today, field="resolved_on")
    with transaction.atomic(durable=True):
        locked = _locked(event)
        if resolved_on < locked.onset_on:
            raise InvalidInput(
                _("The resolution cannot precede the onset."),
                {"onset_on": str(locked.onset_on), "resolved_on": str(resolved_on)},
                code="resolution_before_onset",
            )
        locked.resolved_on = resolved_on
        tracked_save(locked, by=by, reason=reason, update_fields=["resolved_on"])
    return locked
