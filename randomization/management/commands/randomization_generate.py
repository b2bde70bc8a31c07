from django.core.management.base import BaseCommand, CommandError

from randomization.management.common import (
    acting_user,
    domain_error,
    protocol_version,
    read_secret,
    read_text,
)
from randomization.services.designs import design_generate
from trial.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Generate a draft randomization design from the protocol and the statistician's seed. "
        "The seed is read from --seed-file or typed (twice, without echo); only its SHA-256 is "
        "stored. Prints the design, the list SHA-256 and the seed SHA-256, never the list."
    )

    def add_arguments(self, parser):
        parser.add_argument("protocol", help="trial code, e.g. PADA1")
        parser.add_argument("--user", required=True, help="the statistician's username")
        parser.add_argument(
            "--length",
            type=int,
            required=True,
            help="entries per stratum (permuted blocks) or draws (minimization)",
        )
        parser.add_argument("--protocol-version", type=int, default=None)
        parser.add_argument(
            "--seed-file", default=None, help="file holding the seed ('-': standard input)"
        )

    def handle(self, *args, **options):
        version = protocol_version(options["protocol"], options["protocol_version"])
        user = acting_user(options["user"])
        if options["seed_file"]:
            seed = read_text(options["seed_file"]).strip()
        else:
            seed = read_secret("Seed: ")
            if read_secret("Seed again: ") != seed:
                raise CommandError("the two seeds differ")
        try:
            design = design_generate(
                protocol_version=version, by=user, seed=seed, length=options["length"]
            )
        except DomainError as exc:
            raise domain_error(exc) from exc
        self.stdout.write(
            f"design {design.pk} ({design.protocol.code} design v{design.number}, "
            f"{design.method}, draft)\n"
            f"list SHA-256 {design.list_sha256}\n"
            f"seed SHA-256 {design.seed_sha256}"
        )
