"""Errors of ctDNA monitoring, each with a stable snake_case ``code`` (an API contract).

Result validation problems (``monitoring.rules.ctdna.ProblemCode`` and the shape codes below)
are raised as :class:`ResultInvalid` (400) or :class:`ResultRuleViolation` (422) whose code is
the first problem's code; ``details.problems`` lists every problem with its field.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from trial.exceptions import Conflict, Forbidden, InvalidInput, RuleViolation


class ResultInvalid(InvalidInput):
    code = "invalid_result"
    default_message = _("The result is not valid.")


class ResultRuleViolation(RuleViolation):
    code = "result_rule_violation"
    default_message = _("The result breaks a rule of the trial.")


class InvalidBatch(InvalidInput):
    code = "invalid_batch"
    default_message = _("A batch is a JSON list of 1 to 500 results.")


class LabNotConfigured(Forbidden):
    code = "lab_not_configured"
    default_message = _("This account is not the service account of a laboratory.")


class SiteNotServed(Forbidden):
    code = "site_not_served"
    default_message = _("Your laboratory does not serve the patient's site.")


class UnknownPatient(RuleViolation):
    code = "unknown_patient"
    default_message = _("No enrolled patient has this trial number.")


class UnknownSample(RuleViolation):
    code = "unknown_sample"
    default_message = _("No sample with this id has been recorded by the site.")


class SamplePatientMismatch(RuleViolation):
    code = "sample_patient_mismatch"
    default_message = _("This sample was drawn from another patient.")


class CollectionDateMismatch(RuleViolation):
    code = "collected_on_mismatch"
    default_message = _("The collection date differs from the draw date the site recorded.")


class CtdnaNotMonitored(RuleViolation):
    code = "ctdna_not_monitored"
    default_message = _("The patient's protocol has no ctDNA monitoring.")


class PatientNotEnrolled(RuleViolation):
    code = "patient_not_enrolled"
    default_message = _("Samples are recorded for enrolled patients only.")


class DrawDateInvalid(RuleViolation):
    code = "invalid_draw_date"
    default_message = _("The draw date must lie between enrolment and today.")


class SampleIdInvalid(InvalidInput):
    code = "invalid_sample_id"
    default_message = _(
        "A sample id is 1 to 64 letters, digits, dots, hyphens or underscores, "
        "starting with a letter or digit."
    )


class DuplicateSampleId(Conflict):
    code = "duplicate_sample_id"
    default_message = _("A sample with this id is already recorded.")


class SampleHasResult(Conflict):
    code = "sample_has_result"
    default_message = _("The sample already has a result: it can no longer be corrected.")


class SampleConflict(Conflict):
    code = "sample_conflict"
    default_message = _(
        "Your laboratory already posted a different result for this sample; "
        "send a correction as an amendment."
    )


class ResultSuperseded(Conflict):
    code = "result_superseded"
    default_message = _("This result has been amended: amend its latest version.")


class AmendmentMismatch(RuleViolation):
    code = "amendment_mismatch"
    default_message = _("An amendment must keep the sample and the patient of the result.")


class AmendmentUnchanged(RuleViolation):
    code = "amendment_unchanged"
    default_message = _("The amendment is identical to the current result.")


class ProtocolCtdnaInvalid(RuleViolation):
    code = "ctdna_protocol_unsupported"
    default_message = _("The protocol's ctDNA parameters cannot be applied.")


class LabCodeInvalid(InvalidInput):
    code = "invalid_lab_code"
    default_message = _("A lab code is 2 to 16 capital letters, digits or hyphens.")


class DuplicateLab(Conflict):
    code = "duplicate_lab"
    default_message = _("A laboratory with this code already exists.")
