from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from trial.services.accounts import api_token_issue


class Command(BaseCommand):
    help = "Issue an API token for a user and print it (shown once; stored only hashed)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=None, help="validity in days")
        parser.add_argument("--label", default="")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']!r}")
        if not hasattr(user, "staff"):
            raise CommandError("the user has no staff profile (role)")
        token, key = api_token_issue(user=user, label=options["label"], ttl_days=options["days"])
        self.stdout.write(key)
        self.stderr.write(f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
