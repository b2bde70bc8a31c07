"""Error codes of Step 1 follow-up: cycles, schedule, safety, tumour, QoL, PALATINE.

Codes are a contract (rendered as ``{"code", "message", "details"}`` by the API).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from trial.exceptions import Conflict, DomainError, InvalidInput, RuleViolation


class HoldOpen(RuleViolation):
    code = "hold_open"
    default_message = _("The cycle is on hold: close the hold before starting it.")


class NoHoldOpen(RuleViolation):
    code = "no_hold_open"
    default_message = _("The next cycle is not on hold.")


class NotRecovered(RuleViolation):
    code = "not_recovered"
    default_message = _(
        "No blood count since the withholding decision shows recovery to the required grade."
    )


class DayOutsideCycle(RuleViolation):
    code = "day_outside_cycle"
    default_message = _("This cycle day is not part of a started or upcoming cycle.")


class CycleStartTooEarly(RuleViolation):
    code = "cycle_start_too_early"
    default_message = _("The cycle cannot start this early.")


class DelayNotLater(RuleViolation):
    code = "delay_not_later"
    default_message = _("A delay must move the cycle start later than planned.")


class NoOpenLine(RuleViolation):
    code = "no_open_line"
    default_message = _("The patient has no ongoing treatment line.")


class AssessmentBeforeEnrolment(RuleViolation):
    code = "assessment_before_enrolment"
    default_message = _("A tumour assessment cannot be dated before enrolment.")


class DateBeforeEnrolment(RuleViolation):
    code = "date_before_enrolment"
    default_message = _("The date is before the patient's enrolment.")


class AssessmentOutOfOrder(RuleViolation):
    code = "assessment_out_of_order"
    default_message = _("Tumour assessments must be recorded in date order.")


class NotInProtocol(RuleViolation):
    code = "not_in_protocol"
    default_message = _("The patient's protocol does not include this procedure.")


class NotSerious(RuleViolation):
    code = "not_serious"
    default_message = _("This adverse event is not serious.")


class DoseNotAllowed(RuleViolation):
    code = "dose_not_allowed"
    default_message = _("This dose is not one the decision allows.")


class DateInFuture(InvalidInput):
    code = "date_in_future"
    default_message = _("The date is in the future.")


class TargetLesionsMismatch(InvalidInput):
    code = "target_lesions_mismatch"
    default_message = _("The target lesions must be the baseline target lesions.")


class LlnMissing(InvalidInput):
    code = "lln_missing"
    default_message = _("The lower limit of normal is needed to grade this value.")


class DecisionNotPending(Conflict):
    code = "decision_not_pending"
    default_message = _("This dose decision is no longer awaiting confirmation.")


class DecisionStale(Conflict):
    code = "decision_stale"
    default_message = _("The dose changed since this decision was proposed.")


class SaeAlreadyReported(Conflict):
    code = "sae_already_reported"
    default_message = _("This serious adverse event was already reported.")


# Translated messages for the codes of the pure rules (which cannot use gettext); a code not
# listed keeps the rule's own English text.
RULE_MESSAGES = {
    "qol_item_out_of_range": _("An answer is outside the item's range (1-4, items 29-30: 1-7)."),
    "qol_unknown_item": _("QLQ-C30 item numbers are 1 to 30."),
    "qol_too_many_items": _("A QLQ-C30 form has at most 30 items."),
    "recist_invalid_measurement": _("A diameter must be a number of millimetres >= 0."),
    "recist_no_lesions": _("There are no target and no non-target lesions to assess."),
    "recist_invalid_reference_sum": _("The baseline and nadir sums are inconsistent."),
    "ctcae_value_invalid": _("A laboratory value cannot be graded."),
    "ctcae_version_unknown": _("Unknown CTCAE version."),
    "ctcae_term_unknown": _("Not a graded haematology term."),
    "unknown_unit": _("Unknown unit for this quantity."),
    "invalid_number": _("Not a number."),
    "implausible_value": _("The value is outside the plausible range."),
    "dose_reduction_skips_level": _("A reduction moves exactly one dose level."),
    "dose_re_escalation": _("Palbociclib is never re-escalated automatically."),
    "dose_level_unknown": _("Not a palbociclib dose level of the protocol."),
    "temperature_invalid": _("The temperature is not a valid number."),
}


def rule_input_error(exc: Any) -> DomainError:
    """A pure rule's input error (``code``, ``details``) as a 400 with the same code; the rule's
    own text is kept in the details."""
    details = dict(getattr(exc, "details", {}) or {})
    details.setdefault("rule_message", str(exc))
    return InvalidInput(RULE_MESSAGES.get(exc.code, str(exc)), details, code=exc.code)
