from django.core.management.base import BaseCommand, CommandError

from trial.exceptions import InvalidState
from trial.models import ApiToken
from trial.services.accounts import api_token_revoke


class Command(BaseCommand):
    help = (
        "Revoke API tokens by key prefix (the first 8 characters shown in the admin), or every "
        "active token of a user with --user."
    )

    def add_arguments(self, parser):
        parser.add_argument("prefix", nargs="?", help="key prefix of the token to revoke")
        parser.add_argument("--user", help="revoke every active token of this username")

    def handle(self, *args, **options):
        if bool(options["prefix"]) == bool(options["user"]):
            raise CommandError("give either a key prefix or --user")
        tokens = ApiToken.objects.filter(revoked_at=None).select_related("user")
        if options["prefix"]:
            tokens = tokens.filter(prefix=options["prefix"])
        else:
            tokens = tokens.filter(user__username=options["user"])
        tokens = list(tokens)
        if not tokens:
            raise CommandError("no active token matches")
        if options["prefix"] and len(tokens) > 1:
            raise CommandError("the prefix matches several tokens: use --user")
        for token in tokens:
            try:
                api_token_revoke(token=token)
            except InvalidState:
                continue
            self.stdout.write(f"revoked {token.prefix}… of {token.user.get_username()}")
