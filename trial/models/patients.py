"""Patients, eligibility assessments, consent and enrolment numbering.

No direct identifiers are stored: a patient is a screening number at a site, a year of birth,
sex, menopausal status and the clinical facts eligibility needs. Never names, initials or dates
of birth.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import HardDeleteForbidden, NoDeleteManager, TrialRecord, history_reason_field
from .protocols import Protocol, ProtocolVersion
from .sites import Site


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class MenopausalStatus(models.TextChoices):
    PREMENOPAUSAL = "premenopausal", _("Premenopausal")
    POSTMENOPAUSAL = "postmenopausal", _("Postmenopausal")
    OVARIAN_SUPPRESSION = "ovarian_suppression", _("Ovarian function suppressed")
    BILATERAL_OOPHORECTOMY = "bilateral_oophorectomy", _("Bilateral oophorectomy")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


class PatientStatus(models.TextChoices):
    """Where the patient stands in the trial's lifecycle."""

    SCREENING = "screening", _("Screening")
    SCREEN_FAILED = "screen_failed", _("Screen failure")
    ENROLLED = "enrolled", _("Enrolled")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    COMPLETED = "completed", _("Completed")


class Step(models.TextChoices):
    """Where the patient stands in the adaptive design."""

    NONE = "none", _("Not started")
    STEP1 = "step1", _("Step 1")
    STEP2_ARM_A = "step2_arm_a", _("Step 2, Arm A")
    STEP2_ARM_B = "step2_arm_b", _("Step 2, Arm B")
    STEP3 = "step3", _("Step 3 (crossover)")
    FOLLOW_UP = "follow_up", _("Follow-up")
    OFF_STUDY = "off_study", _("Off study")


class Patient(TrialRecord):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="patients")
    protocol_version = models.ForeignKey(
        ProtocolVersion,
        on_delete=models.PROTECT,
        related_name="patients",
        help_text=_("The version the patient consented under; changes only on re-consent."),
    )
    screening_number = models.CharField(_("screening number"), max_length=32)
    trial_number = models.CharField(
        _("trial number"), max_length=40, unique=True, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=20, choices=PatientStatus.choices, default=PatientStatus.SCREENING
    )
    step = models.CharField(_("step"), max_length=20, choices=Step.choices, default=Step.NONE)
    year_of_birth = models.PositiveSmallIntegerField(_("year of birth"))
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices)
    menopausal_status = models.CharField(
        _("menopausal status"), max_length=30, choices=MenopausalStatus.choices
    )
    enrolled_on = models.DateField(_("enrolment date"), null=True, blank=True)
    stratification = models.JSONField(
        _("stratification values"),
        default=dict,
        blank=True,
        help_text=_("Factor code to level, as the protocol defines them."),
    )
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["site__code", "screening_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "protocol", "screening_number"],
                name="patient_unique_screening_number",
            ),
            models.CheckConstraint(
                condition=Q(year_of_birth__gte=1900) & Q(year_of_birth__lte=2100),
                name="patient_year_of_birth_range",
            ),
            models.CheckConstraint(
                condition=Q(status="enrolled", trial_number__isnull=False) | ~Q(status="enrolled"),
                name="patient_enrolled_has_trial_number",
            ),
        ]
        indexes = [models.Index(fields=["site", "status"], name="patient_site_status")]

    def __str__(self) -> str:
        # Never the screening number: it links to the site's identity file, and __str__
        # appears in admin pages, histories and messages that central roles read.
        return self.trial_number or _("screening record %(pk)s") % {"pk": self.pk}


class EligibilityAssessment(TrialRecord):
    """One evaluation of the protocol's criteria against submitted screening data."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    protocol_version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT)
    assessed_on = models.DateField(_("screening date"))
    submitted = models.JSONField(_("values as entered, with units"))
    normalised = models.JSONField(_("values in canonical units"))
    eligible = models.BooleanField(_("eligible"))
    results = models.JSONField(_("per-criterion results"))
    failures = models.JSONField(_("failing criteria"), default=list)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("eligibility assessment")
        verbose_name_plural = _("eligibility assessments")
        ordering = ["-created_at"]
        get_latest_by = "created_at"


class Consent(TrialRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    protocol_version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT)
    form_version = models.CharField(_("consent form version"), max_length=32)
    consented_on = models.DateField(_("consent date"))
    taken_by = models.ForeignKey(
        "auth.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("taken by")
    )
    withdrawn_on = models.DateField(_("withdrawal date"), null=True, blank=True)
    withdrawal_reason = models.TextField(_("withdrawal reason"), blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-consented_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(withdrawn_on__isnull=True)
                | Q(withdrawn_on__gte=models.F("consented_on")),
                name="consent_withdrawal_after_consent",
            ),
        ]


class EnrolmentCounter(models.Model):
    """Last trial number issued per site and protocol; locked to issue gapless numbers."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT)
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "protocol"], name="enrolmentcounter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.site_id}/{self.protocol_id}: {self.last_number}"


class AuditEvent(models.Model):
    """Append-only record of events that are not row changes: logins to sensitive data,
    token issuance, list views, exports, notifications sent."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        "auth.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden("audit events are never deleted")
