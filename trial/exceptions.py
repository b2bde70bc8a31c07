"""Domain errors: each carries a stable snake_case ``code`` (a contract) and an HTTP category.

Services and rules raise these; one DRF exception handler renders them as
``{"code", "message", "details"}``. Codes never change once published.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "domain_error"
    default_message: ClassVar[Any] = _("The request could not be processed.")

    def __init__(
        self, message: Any = None, details: dict[str, Any] | None = None, *, code: str | None = None
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.details = details or {}
        if code is not None:
            self.code = code  # type: ignore[misc]
        super().__init__(str(self.message))


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid_input"


class RuleViolation(DomainError):
    status_code = 422
    code = "rule_violation"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_message = _("Not found.")


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"
    default_message = _("You do not have permission to perform this action.")


# --- foundation codes ---------------------------------------------------------------------
class ProtocolInvalid(InvalidInput):
    code = "protocol_invalid"


class ImplausibleValue(InvalidInput):
    code = "implausible_value"


class UnknownUnit(InvalidInput):
    code = "unknown_unit"


class ScreeningDataInvalid(InvalidInput):
    code = "screening_data_invalid"


class NotEligible(RuleViolation):
    code = "not_eligible"
    default_message = _("The patient does not meet the eligibility criteria.")


class ConsentMissing(RuleViolation):
    code = "consent_missing"
    default_message = _("The patient has no valid consent.")


class ConsentAfterScreening(RuleViolation):
    code = "consent_after_screening"
    default_message = _("Consent must be dated on or before the screening procedures.")


class EligibilityMissing(RuleViolation):
    code = "eligibility_missing"
    default_message = _("No eligibility assessment has been recorded for this patient.")


class InvalidState(RuleViolation):
    code = "invalid_state"


class AlreadyEnrolled(Conflict):
    code = "already_enrolled"
    default_message = _("The patient is already enrolled.")


class DuplicateScreeningNumber(Conflict):
    code = "duplicate_screening_number"
    default_message = _("This screening number is already registered at this site.")


class ReasonRequired(InvalidInput):
    code = "reason_required"
    default_message = _("A reason for the change is required.")


class WrongPassword(Forbidden):
    code = "wrong_password"
    default_message = _("The password confirmation is incorrect.")


class SignatureLocked(Forbidden):
    code = "signature_locked"
    default_message = _(
        "Too many wrong passwords: electronic signatures are locked for this account for a while."
    )


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"
    default_message = _("Your role does not allow this action.")


class SiteNotAllowed(NotFound):
    """Another site's record is reported as not found so its existence does not leak."""

    code = "not_found"
