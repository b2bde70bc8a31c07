"""Load the demo trial for `make run`: sites, one login per role, and a simulated trial.

The patients come from the trial simulator (``manage.py simulate``, small N, fixed seed): 40
patients at the three demo sites over the 18 months ending today, so the demo shows every
state of the design (screening, screen failure, Step 1 at various cycles, a rising ESR1
mutation awaiting imaging, both arms, crossover, progression), recorded by the demo logins.
Idempotent: an existing demo is left as it is. The demo password is generated once per
checkout and kept in var/demo_password (the embedded default is a local demo, never
production).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from trial.models import Patient, Role, Site, StaffProfile
from trial.services.protocols import protocol_current_version

SITES = [
    ("FR01", "Centre Paris Est", "FR"),
    ("FR02", "Centre Lyon Sud", "FR"),
    ("FR03", "Centre Bordeaux Ouest", "FR"),
]
LOGINS = [
    ("investigator.paris", Role.INVESTIGATOR, ["FR01"], "fr"),
    ("coordinator.paris", Role.COORDINATOR, ["FR01"], "fr"),
    ("investigator.lyon", Role.INVESTIGATOR, ["FR02"], "en"),
    ("coordinator.lyon", Role.COORDINATOR, ["FR02"], "en"),
    ("investigator.bordeaux", Role.INVESTIGATOR, ["FR03"], "en"),
    ("datamanager", Role.DATA_MANAGER, [], "en"),
    ("sponsor", Role.SPONSOR_MONITOR, [], "en"),
    ("statistician", Role.STATISTICIAN, [], "en"),
]


# The simulated demo trial (the simulator is in monitoring, above this app: it is called by
# its command name, not imported).
DEMO_TRIAL = {"patients": 40, "seed": 1, "months": 18, "scenario": "demo"}


def demo_password_path() -> Path:
    return Path(settings.VAR_DIR) / "demo_password"


def demo_password() -> str:
    path = demo_password_path()
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create the demo sites, logins and patients (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--list-logins", action="store_true")

    def handle(self, *args, **options):
        if options["list_logins"]:
            for username, role, sites, _lang in LOGINS:
                self.stdout.write(f"{username:24} {role.label} {' '.join(sites)}")
            return
        try:
            protocol_current_version("PADA1")
        except Exception as exc:
            raise CommandError("load the PADA1 protocol first (manage.py load_protocol)") from exc
        password = demo_password()
        with transaction.atomic():
            sites = {
                code: Site.objects.get_or_create(
                    code=code, defaults={"name": name, "country": country}
                )[0]
                for code, name, country in SITES
            }
            for username, role, site_codes, language in LOGINS:
                user, created = get_user_model().objects.get_or_create(
                    username=username,
                    defaults={"is_staff": True, "email": f"{username}@example.org"},
                )
                if created:
                    user.set_password(password)
                    user.save()
                    profile = StaffProfile.objects.create(user=user, role=role, language=language)
                    profile.sites.set([sites[c] for c in site_codes])
        if Patient.objects.exists():
            self.stdout.write("demo data present")
            return
        call_command(
            "simulate",
            sites=len(SITES),
            site_codes=",".join(code for code, _name, _country in SITES),
            password_file=str(demo_password_path()),
            report_dir=str(settings.VAR_DIR),
            quiet=True,
            stderr=self.stderr,
            **DEMO_TRIAL,
        )
        self.stdout.write(f"demo data loaded; password for every demo login: {password}")
