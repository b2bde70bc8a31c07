from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trial.exceptions import ProtocolInvalid
from trial.services.protocols import PROTOCOL_DIR, protocol_load_file


class Command(BaseCommand):
    help = "Load a protocol YAML file. Idempotent; a changed file loads as a new version."

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="+", help="protocol files, or names under trial/protocols"
        )

    def handle(self, *args, **options):
        for name in options["files"]:
            path = Path(name) if Path(name).exists() else PROTOCOL_DIR / name
            try:
                result = protocol_load_file(path)
            except ProtocolInvalid as exc:
                for problem in exc.details["problems"]:
                    self.stderr.write(f"{problem['file']}: {problem['path']}: {problem['message']}")
                raise CommandError(f"{name}: invalid protocol") from exc
            except FileNotFoundError as exc:
                raise CommandError(f"{name}: no such file") from exc
            v = result.version
            verb = "loaded" if result.created else "unchanged"
            self.stdout.write(f"{v.protocol.code} version {v.number} ({v.document_version}) {verb}")
