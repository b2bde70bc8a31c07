from django.core.management.base import BaseCommand, CommandError

from randomization.management.common import acting_user, design_by_id, domain_error
from randomization.services.lifecycle import design_activate, design_retire
from trial.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Activate a draft design (its stored list is re-hashed against the recorded SHA-256 "
        "and sealed), or with --retire end a design; only a statistician may."
    )

    def add_arguments(self, parser):
        parser.add_argument("design", type=int, help="design id")
        parser.add_argument("--user", required=True, help="the statistician's username")
        parser.add_argument("--retire", action="store_true", help="retire instead of activate")
        parser.add_argument("--reason", default="", help="why (required with --retire)")

    def handle(self, *args, **options):
        design = design_by_id(options["design"])
        if options["retire"] and not options["reason"].strip():
            raise CommandError("--retire needs --reason")
        user = acting_user(options["user"])
        try:
            if options["retire"]:
                design = design_retire(design=design, by=user, reason=options["reason"])
            else:
                design = design_activate(design=design, by=user)
        except DomainError as exc:
            raise domain_error(exc) from exc
        self.stdout.write(
            f"design {design.pk} ({design.protocol.code} design v{design.number}) is "
            f"{design.status}; list SHA-256 {design.list_sha256}"
        )
