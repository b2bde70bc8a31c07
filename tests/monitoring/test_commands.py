"""manage.py create_lab_token <lab-code> [--days N]: prints a key that authenticates the lab."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from trial.models import ApiToken

pytestmark = pytest.mark.django_db


def issue(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_lab_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_the_printed_key_authenticates_the_lab(lab_a, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cmd"}
    }
    key, err = issue("LAB-A")
    token = ApiToken.objects.get(user=lab_a.service_user)
    assert token.digest != key and token.prefix == key[:8]
    assert token.label == "lab LAB-A" and "expires" in err
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/ctdna/results/").status_code == 200


def test_the_validity_is_set_in_days(lab_a):
    issue("LAB-A", "--days", "7")
    expires = ApiToken.objects.get(user=lab_a.service_user).expires_at
    assert abs(expires - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)


def test_an_unknown_lab_or_a_bad_validity_is_refused(lab_a):
    with pytest.raises(CommandError, match="no laboratory"):
        issue("LAB-Z")
    with pytest.raises(CommandError, match="--days"):
        issue("LAB-A", "--days", "0")
    assert not ApiToken.objects.exists()
