"""Password guessing locks the account; expired, revoked or disabled lab tokens open nothing.

django-axes counts failed logins per account (``AXES_LOCKOUT_PARAMETERS = ["username"]``):
after ``AXES_FAILURE_LIMIT`` wrong passwords the right one is refused too, from any address and
on both login forms (admin and dashboard), until the cool-off passes. Another account is not
affected. The electronic signature (the password re-entered to randomize, cross over or sign a
dose decision) is a password check as well and must not give unlimited guesses.

Tokens: tests/monitoring/api/test_results_api.py refuses an expired and a revoked token on the
JSON result endpoint, tests/trial/api/test_patients_api.py on the patient list; here every
route open to laboratories refuses them, and the token of a deactivated lab account.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, make_user
from trial.models import ApiToken, Role
from trial.services.accounts import api_token_issue, api_token_revoke

from .routes import api_routes
from .test_api_access_matrix import POLICY, _targets
from .world import NOW

LOGIN_FORMS = ["/admin/login/", "/dashboard/login/"]


@pytest.fixture
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db, fast_hasher, site_a):
    return make_user("inv_guess", Role.INVESTIGATOR, [site_a])


def _login(client: Client, url: str, username: str, password: str, address="10.0.0.1"):
    return client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=address, follow=False
    )


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _guess_wrong(url: str, username: str, times: int, address="10.0.0.1") -> None:
    for attempt in range(times):
        response = _login(Client(), url, username, f"wrong-{attempt}", address)
        assert response.status_code in {200, 429}, response.status_code


@pytest.mark.parametrize("url", LOGIN_FORMS)
def test_the_right_password_works_before_the_limit(staff, url):
    _guess_wrong(url, staff.username, settings.AXES_FAILURE_LIMIT - 1)
    client = Client()
    response = _login(client, url, staff.username, PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


@pytest.mark.parametrize("url", LOGIN_FORMS)
def test_wrong_passwords_lock_the_account(staff, url):
    _guess_wrong(url, staff.username, settings.AXES_FAILURE_LIMIT)
    for form in LOGIN_FORMS:  # both forms, and from another address
        client = Client()
        response = _login(client, form, staff.username, PASSWORD, address="192.0.2.77")
        assert response.status_code == 429, form
        assert not _logged_in(client)
    admin = Client()
    _login(admin, "/admin/login/", staff.username, PASSWORD)
    assert admin.get("/admin/").status_code == 302  # still sent to the login


def test_a_lockout_is_per_account(staff, site_a):
    other = make_user("coord_guess", Role.COORDINATOR, [site_a])
    _guess_wrong("/admin/login/", staff.username, settings.AXES_FAILURE_LIMIT)
    client = Client()
    response = _login(client, "/admin/login/", other.username, PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_the_lockout_ends_after_the_cool_off(staff):
    with time_machine.travel(NOW, tick=False) as clock:
        _guess_wrong("/admin/login/", staff.username, settings.AXES_FAILURE_LIMIT)
        assert _login(Client(), "/admin/login/", staff.username, PASSWORD).status_code == 429
        clock.shift(dt.timedelta(hours=settings.AXES_COOLOFF_TIME, minutes=1))
        client = Client()
        response = _login(client, "/admin/login/", staff.username, PASSWORD)
        assert response.status_code == 302 and _logged_in(client)


# --- the electronic signature -------------------------------------------------------------------


def test_signature_password_guesses_are_limited(in_world):
    """Guessing the investigator's password through the dose-decision signature must lock it
    like a login does; the right password after the limit must not sign."""
    world = in_world
    inv = world.persona("inv_a")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {inv.token}")
    url = f"/api/v1/dose-decisions/{world.sites['FR01'].dose_decision.pk}/confirm/"
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(url, {"password": f"wrong-{attempt}"}, format="json")
        assert response.status_code == 403, response.content
    signed = client.post(url, {"password": PASSWORD}, format="json")
    assert signed.status_code == 403, signed.content
    decision = world.sites["FR01"].dose_decision
    decision.refresh_from_db()
    assert decision.signed_at is None


# --- lab tokens -------------------------------------------------------------------------------


def _lab_operations() -> dict:
    """Every API route and method the policy opens to laboratories."""
    return {
        f"{method} {route.name}": (route, method, POLICY[(route.name, method)])
        for route in api_routes()
        for method in route.methods
        if Role.LAB in POLICY[(route.name, method)].roles
    }


LAB_OPERATIONS = sorted(_lab_operations())


def _call(world, key: str, route, method, access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    values = _targets(world).get(access.target, {}) if route.params else {}
    body = access.body(world) if callable(access.body) else access.body
    return client.generic(
        method, route.url(**values), json.dumps(body or {}), content_type="application/json"
    )


def _lab_token(world, **kwargs) -> tuple[ApiToken, str]:
    return api_token_issue(user=world.persona("lab_a").user, label="rotated", **kwargs)


def _refused(response, code: str) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code


def test_lab_routes_are_known():
    assert LAB_OPERATIONS, "no API route is open to laboratories"


@pytest.mark.parametrize("operation", LAB_OPERATIONS)
def test_an_expired_lab_token_opens_no_lab_route(in_world, operation):
    route, method, access = _lab_operations()[operation]
    _token, key = _lab_token(in_world, ttl_days=1)
    assert _call(in_world, key, route, method, access).status_code != 401  # valid today
    with time_machine.travel(NOW + dt.timedelta(days=2)):
        _refused(_call(in_world, key, route, method, access), "token_expired")


@pytest.mark.parametrize("operation", LAB_OPERATIONS)
def test_a_revoked_lab_token_opens_no_lab_route(in_world, operation):
    route, method, access = _lab_operations()[operation]
    token, key = _lab_token(in_world)
    api_token_revoke(token=token)
    _refused(_call(in_world, key, route, method, access), "token_revoked")


def test_a_deactivated_lab_account_opens_nothing(in_world):
    world = in_world
    lab = world.persona("lab_a")
    get_user_model().objects.filter(pk=lab.user.pk).update(is_active=False)
    for route, method, access in _lab_operations().values():
        response = _call(world, lab.token, route, method, access)
        assert response.status_code in {401, 403}, (method, route.name, response.status_code)
