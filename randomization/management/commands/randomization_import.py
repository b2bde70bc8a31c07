from django.core.management.base import BaseCommand

from randomization.management.common import (
    acting_user,
    domain_error,
    protocol_version,
    read_text,
)
from randomization.services.designs import design_import
from trial.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Import a statistician's permuted-block list (CSV: stratum,sequence_number,"
        "block_number,arm[,block_size]) as a draft design after verification: SHA-256 of the "
        "file, header, duplicates and gaps, balance of every block. Every problem is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("protocol", help="trial code, e.g. PADA1")
        parser.add_argument("--user", required=True, help="the statistician's username")
        parser.add_argument("--file", required=True, help="the CSV list ('-': standard input)")
        parser.add_argument("--sha256", required=True, help="the SHA-256 sent with the file")
        parser.add_argument("--protocol-version", type=int, default=None)

    def handle(self, *args, **options):
        version = protocol_version(options["protocol"], options["protocol_version"])
        user = acting_user(options["user"])
        try:
            design = design_import(
                protocol_version=version,
                by=user,
                text=read_text(options["file"]),
                declared_sha256=options["sha256"],
            )
        except DomainError as exc:
            raise domain_error(exc) from exc
        self.stdout.write(
            f"design {design.pk} ({design.protocol.code} design v{design.number}, imported, "
            f"draft)\nlist SHA-256 {design.list_sha256}"
        )
