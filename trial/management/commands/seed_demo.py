"""Load the demo trial for `make run`: sites, one login per role, patients in various states.

Idempotent: an existing demo is left as it is. The demo password is generated once per checkout
and kept in var/demo_password (the embedded default is a local demo, never production).
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from trial.models import Patient, Role, Site, StaffProfile
from trial.services import patients as svc
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


def demo_password() -> str:
    path = Path(settings.VAR_DIR) / "demo_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip()


def eligible_values(age: int) -> dict:
    return {
        "sex": "female",
        "age": {"value": age, "unit": "years"},
        "disease_stage": "metastatic",
        "relapse_date": None,
        "life_expectancy": {"value": 24, "unit": "months"},
        "ecog": {"value": 1, "unit": "score"},
        "er_positive_cells": {"value": 80, "unit": "%"},
        "her2_status": "negative",
        "menopausal_status": "postmenopausal",
        "haemoglobin": {"value": 12.4, "unit": "g/dL"},
        "wbc": {"value": 5.1, "unit": "G/L"},
        "platelets": {"value": 240, "unit": "G/L"},
    }


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
            version = protocol_current_version("PADA1")
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
            users = {}
            for username, role, site_codes, language in LOGINS:
                user, created = get_user_model().objects.get_or_create(
                    username=username, defaults={"is_staff": True}
                )
                if created:
                    user.set_password(password)
                    user.save()
                    profile = StaffProfile.objects.create(user=user, role=role, language=language)
                    profile.sites.set([sites[c] for c in site_codes])
                users[username] = user
        if Patient.objects.exists():
            self.stdout.write("demo data present")
            return
        self._patients(version, sites, users)
        self.stdout.write(f"demo data loaded; password for every demo login: {password}")

    def _patients(self, version, sites, users):
        today = timezone.localdate()
        plan = [
            ("FR01", "investigator.paris"),
            ("FR02", "investigator.lyon"),
            ("FR03", "investigator.bordeaux"),
        ]
        attest = {
            c["id"]: c["id"]
            in {"tissue", "no_prior_systemic_mbc", "organ_function", "recovered", "social_security"}
            for section in ("inclusion", "exclusion")
            for c in version.document["eligibility"][section]
            if c["kind"] == "attestation"
        }
        for site_code, username in plan:
            by = users[username]
            for i in range(1, 7):
                age = 50 + 3 * i
                patient = svc.patient_register(
                    by=by,
                    site=sites[site_code],
                    protocol_version=version,
                    screening_number=f"SCR-{site_code}-{i:03d}",
                    year_of_birth=today.year - age,
                    sex="female",
                    menopausal_status="postmenopausal",
                )
                if i == 6:
                    continue  # registered, waiting for consent
                screening_day = today - dt.timedelta(days=2)
                svc.consent_record(
                    by=by,
                    patient=patient,
                    form_version="ICF-1.0",
                    consented_on=screening_day,
                    taken_by=by,
                    today=today,
                )
                values = eligible_values(age) | attest
                if i == 5:
                    values["er_positive_cells"] = {"value": 5, "unit": "%"}
                svc.eligibility_submit(
                    by=by,
                    patient=patient,
                    submitted=values,
                    screening_date=screening_day,
                    today=today,
                )
                if i == 5:
                    svc.patient_screen_fail(by=by, patient=patient, reason="ER below 10 %")
                    continue
                svc.patient_enrol(
                    by=by,
                    patient=patient,
                    endocrine_drug=["letrozole", "anastrozole", "exemestane"][i % 3],
                    planned_c1d1=today + dt.timedelta(days=i),
                    today=today,
                )
