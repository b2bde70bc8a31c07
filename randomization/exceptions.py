"""Randomization errors: stable snake_case codes (a contract) on the foundation's categories.

Messages never reveal the list, block sizes or a future allocation: concealment applies to
error messages as much as to data.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from randomization.rules.blocks import RandomizationRuleError
from trial.exceptions import Conflict, DomainError, InvalidInput, RuleViolation


class NotEligibleForRandomization(RuleViolation):
    code = "not_eligible"
    default_message = _("The patient is not eligible for randomization.")


class AlreadyRandomized(Conflict):
    code = "already_randomized"
    default_message = _("The patient is already randomized.")


class StratumIncomplete(RuleViolation):
    code = "stratum_incomplete"
    default_message = _("A stratification value is missing for this patient.")


class StratumInvalidLevel(RuleViolation):
    code = "stratum_invalid_level"
    default_message = _("A stratification value is not one of the protocol's levels.")


class IdempotencyKeyRequired(InvalidInput):
    code = "idempotency_key_required"
    default_message = _(
        "An Idempotency-Key header of 1 to 100 letters, digits, '-', '_', '.' or ':' is required."
    )


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_message = _("This idempotency key was already used for another patient.")


class NoActiveDesign(RuleViolation):
    code = "no_active_design"
    default_message = _("The protocol has no active randomization design.")


class ListExhausted(RuleViolation):
    code = "randomization_list_exhausted"
    default_message = _(
        "The randomization list cannot allocate this patient; contact the trial statistician."
    )


class ProtocolNotRandomized(InvalidInput):
    code = "protocol_not_randomized"
    default_message = _("The protocol has no randomized step.")


class SeedTooShort(InvalidInput):
    code = "seed_too_short"
    default_message = _("The seed must have at least 32 characters (for example 64 hex digits).")


class ImportRequiresPermutedBlocks(InvalidInput):
    code = "import_requires_permuted_blocks"
    default_message = _("Only a permuted-block design can be imported as a list.")


class DesignNotDraft(Conflict):
    code = "design_not_draft"
    default_message = _("Only a draft design can be activated.")


class DesignAlreadyActive(Conflict):
    code = "design_already_active"
    default_message = _("Another design of this protocol is active; retire it first.")


class DesignNotActive(Conflict):
    code = "design_not_active"
    default_message = _("The design is not active.")


class ListHashMismatch(RuleViolation):
    code = "list_hash_mismatch"
    default_message = _("The stored list no longer matches its recorded SHA-256.")


class CrossoverNotAllowed(RuleViolation):
    code = "crossover_not_allowed"
    default_message = _(
        "Crossover is allowed only for Arm A patients after recorded RECIST progression."
    )


class AlreadyCrossedOver(Conflict):
    code = "already_crossed_over"
    default_message = _("The patient has already crossed over.")


class ImmutableRecord(Conflict):
    """A sealed row (allocation, list entry, draw) was about to be changed: a programming error
    the database would also refuse on PostgreSQL."""

    code = "immutable_record"
    default_message = _("This record is immutable.")


def from_rule_error(exc: RandomizationRuleError) -> DomainError:
    """Map a pure-rule error to a domain error with the same stable code."""
    if exc.code == "stratum_incomplete":
        return StratumIncomplete(details=exc.details)
    if exc.code == "stratum_invalid_level":
        return StratumInvalidLevel(details=exc.details)
    if exc.category == "rule_violation":
        return RuleViolation(exc.message, exc.details, code=exc.code)
    return InvalidInput(exc.message, exc.details, code=exc.code)
