from django.core.management.base import BaseCommand, CommandError

from monitoring.models import Lab
from trial.services.accounts import api_token_issue


class Command(BaseCommand):
    help = (
        "Issue an API token for a laboratory's service account and print it "
        "(shown once; stored only hashed; revocable in the admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("lab_code")
        parser.add_argument("--days", type=int, default=None, help="validity in days")

    def handle(self, *args, **options):
        lab = Lab.objects.select_related("service_user").filter(code=options["lab_code"]).first()
        if lab is None:
            raise CommandError(f"no laboratory {options['lab_code']!r}")
        if options["days"] is not None and options["days"] < 1:
            raise CommandError("--days must be at least 1")
        token, key = api_token_issue(
            user=lab.service_user, label=f"lab {lab.code}", ttl_days=options["days"]
        )
        self.stdout.write(key)
        self.stderr.write(f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
