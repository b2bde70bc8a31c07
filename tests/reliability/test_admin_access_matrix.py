"""Cross-site and cross-role matrix over every admin page, generated from the URLconf.

Every model registered in the admin must have an entry in ``POLICY``; every admin route must
be a model page (changelist, add, change, history, one history record, delete), a custom page
listed in ``CUSTOM``, or a site-wide page listed in ``SITE_WIDE``. For each persona (logged in
with a session, as staff work) every page is opened on site A's object:

- anonymous visitors and lab service accounts (not staff) are sent to the admin login;
- a role without access gets 403; an object of another site is "not found" (404, or the
  admin's redirect to its index, 302);
- nobody deletes anything (403);
- no page shows another site's data, nor a screening number to a pseudonymised role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.test import Client

from .access import (
    DATA_MANAGER,
    DATA_MONITORING,
    NOBODY,
    PERSONAS,
    READERS,
    SITE_STAFF,
    TARGET_SITE,
    Verdicts,
    leaks,
)
from .known_bugs import conclude
from .routes import admin_routes
from .world import World, admin_targets


@dataclass(frozen=True)
class AdminAccess:
    """``read``: changelist, change page (read-only unless ``add``), history; ``add``: the add
    form; ``scoped``: the model belongs to a site, so site staff see only their own."""

    read: frozenset[str]
    add: frozenset[str]
    scoped: bool
    why: str


CLINICAL = AdminAccess(READERS, NOBODY, True, "clinical records: read-only here, site-scoped")
NO_ONE = AdminAccess(NOBODY, NOBODY, False, "Django model permissions, granted to no persona")

POLICY: dict[str, AdminAccess] = {
    "trial.patient": AdminAccess(
        READERS, SITE_STAFF, True, "sites register and correct, central roles read"
    ),
    "trial.site": AdminAccess(READERS, DATA_MANAGER, True, "the data manager opens sites"),
    "trial.protocolversion": AdminAccess(
        READERS, NOBODY, False, "protocols load from files; every human may read them"
    ),
    "trial.staffprofile": AdminAccess(
        DATA_MANAGER, DATA_MANAGER, False, "accounts are the data manager's"
    ),
    "trial.auditevent": AdminAccess(READERS, NOBODY, True, "audit rows are read-only"),
    "trial.apitoken": AdminAccess(DATA_MANAGER, NOBODY, False, "tokens: data manager, read-only"),
    "trial.scheduleitem": CLINICAL,
    "trial.adverseevent": CLINICAL,
    "trial.cycle": CLINICAL,
    "trial.dosedecision": CLINICAL,
    "trial.bloodcount": CLINICAL,
    "trial.tumourassessment": CLINICAL,
    "trial.qolquestionnaire": CLINICAL,
    "trial.locoregionaltreatment": CLINICAL,
    "trial.survivalcontact": CLINICAL,
    "randomization.design": AdminAccess(
        DATA_MONITORING, NOBODY, False, "concealment: designs for statistician and data manager"
    ),
    "randomization.allocation": AdminAccess(
        SITE_STAFF | DATA_MONITORING, NOBODY, True, "arms once allocated; not the sponsor"
    ),
    "randomization.crossover": AdminAccess(
        SITE_STAFF | DATA_MONITORING, NOBODY, True, "reveals the arm; not the sponsor"
    ),
    "monitoring.lab": AdminAccess(DATA_MANAGER, DATA_MANAGER, False, "labs: the data manager"),
    "monitoring.sample": AdminAccess(READERS, SITE_STAFF, True, "draws are recorded by sites"),
    "monitoring.ctdnaresult": AdminAccess(READERS, NOBODY, True, "lab results are read-only"),
    "monitoring.labsubmission": AdminAccess(DATA_MANAGER, NOBODY, False, "raw lab payloads"),
    "monitoring.triggeroutbox": AdminAccess(DATA_MANAGER, NOBODY, False, "trigger bookkeeping"),
    "dashboard.exportjob": AdminAccess(
        DATA_MANAGER, NOBODY, False, "who exported what: the data manager, read-only"
    ),
    "auth.user": NO_ONE,
    "auth.group": NO_ONE,
    "axes.accessattempt": NO_ONE,
    "axes.accesslog": NO_ONE,
    "axes.accessfailurelog": NO_ONE,
}

#: Pages an admin adds beyond the standard ones, on site A's patient: (model label, kind, why);
#: kind "write" is a form acting on the object, "list" a list, "read" a page about the object.
CUSTOM = {
    "admin:trial_patient_enrol": ("trial.patient", "write", "enrol form: site staff of the site"),
    "admin:trial_patient_consent": ("trial.patient", "write", "consent form: site staff"),
    "admin:trial_scheduleitem_due": ("trial.scheduleitem", "list", "due lists, site-scoped"),
    "admin:trial_scheduleitem_calendar": ("trial.scheduleitem", "read", "a patient's calendar"),
}

#: Admin routes that belong to no model, with why the matrix does not open them per object.
SITE_WIDE = {
    "admin:index": "every staff persona; lists only the models its role may open",
    "admin:login": "public: the login form itself (brute force: test_login_lockout.py)",
    "admin:logout": "POST only, ends one's own session",
    "admin:password_change": "one's own password",
    "admin:password_change_done": "one's own password",
    "admin:jsi18n": "translations of the admin's scripts, no data",
    "admin:autocomplete": "no admin declares autocomplete_fields: refused for every field",
    "admin:view_on_site": "no model defines get_absolute_url: nothing to redirect to",
    "admin:app_list": "an app's index: only the models the role may open",
    "admin:auth_user_password_change": "auth.user pages: no persona holds auth permissions",
    "admin:None": "the admin's catch-all redirect of an object URL to its change page",
}

_ACTION = re.compile(r"^admin:(?P<app>[a-z]+)_(?P<model>[a-z]+)_(?P<action>[a-z_]+)$")
STANDARD = {"changelist", "add", "change", "history", "delete", "simple_history"}


def _registered() -> dict[str, type]:
    return {model._meta.label_lower: model for model in admin.site._registry}


def _classify(route) -> tuple[str, str] | None:
    """(model label, action) of a standard model page, None for anything else."""
    match = _ACTION.match(route.name)
    if match and match["action"] in STANDARD and route.name not in SITE_WIDE:
        return f"{match['app']}.{match['model']}", match["action"]
    return None


def test_every_admin_model_and_page_has_a_policy():
    assert set(_registered()) == set(POLICY), "POLICY must name exactly the registered models"
    unknown = [
        route.name
        for route in admin_routes()
        if _classify(route) is None and route.name not in CUSTOM and route.name not in SITE_WIDE
    ]
    assert not unknown, f"admin routes without a policy: {unknown}"


def _object_urls(world: World) -> list[tuple[str, str, str]]:
    """(url, model label, action) of every standard page and custom page, on site A's objects."""
    targets = {model._meta.label_lower: obj for model, obj in admin_targets(world).items()}
    patient = world.sites[TARGET_SITE].patient
    urls = []
    for route in admin_routes():
        classified = _classify(route)
        if classified is None:
            continue
        label, action = classified
        obj = targets.get(label)
        if action in {"changelist", "add"}:
            urls.append((route.url(), label, action))
        elif action == "simple_history":
            if obj is None or not hasattr(type(obj), "history"):
                continue  # the admin derives from SimpleHistoryAdmin, the model keeps none
            record = obj.history.order_by("history_id").first()
            url = route.url().replace("^([^/]+)/history/([^/]+)/$", f"{obj.pk}/history/")
            urls.append((f"{url}{record.history_id}/", label, action))
        elif obj is not None:
            urls.append((route.url(object_id=obj.pk), label, action))
    for name, (label, action, _why) in CUSTOM.items():
        route = next(r for r in admin_routes() if r.name == name)
        values = {"patient_id": patient.pk} if route.params else {}
        urls.append((route.url(**values), label, action))
    return urls


def _expected(persona, label: str, action: str) -> set[int]:
    """The statuses that are right for ``persona`` opening ``action`` of ``label``."""
    if persona is None or not persona.user.is_staff:
        return {302}  # to the admin login
    access = POLICY[label]
    role = persona.role
    reads = role in access.read
    own = not access.scoped or persona.central or persona.site == TARGET_SITE
    if action == "changelist" or action == "list":
        return {200} if reads else {403}
    if action == "add":
        return {200} if role in access.add else {403}
    if action == "write":  # a form acting on one object
        if role not in access.add:
            return {403}
        return {200} if own else {404}
    if action == "delete":
        return {403} if reads and own else {302, 403, 404}
    if action == "simple_history":
        # One past version's page is simple-history's revert form: closed for everyone.
        # Edits go through the services with a reason; the history list stays readable.
        return {403}
    if action == "simple_history":
        # One version's form (a revert page): may be closed to everyone; never another site's.
        return {403} if not reads else ({200, 403} if own else {302, 403, 404})
    # change, history, calendar
    if not reads:
        return {403}
    return {200} if own else {302, 404}


def _login(client: Client, persona) -> None:
    if persona is not None:
        client.force_login(persona.user, backend="django.contrib.auth.backends.ModelBackend")


def _content(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode(errors="replace")


@pytest.mark.parametrize("name", [*PERSONAS, None], ids=[*PERSONAS, "anonymous"])
def test_admin_matrix(in_world, name):
    world = in_world
    persona = None if name is None else world.persona(name)
    client = Client(raise_request_exception=False)
    _login(client, persona)
    verdicts = Verdicts()
    for url, label, action in _object_urls(world):
        response = client.get(url)
        expected = _expected(persona, label, action)
        what = f"GET {url} ({label} {action})"
        if response.status_code not in expected:
            verdicts.add(what, response.status_code, f"{sorted(expected)}: {POLICY[label].why}")
        if (
            response.status_code == 302
            and expected == {302}
            and "/admin/login/" not in (response["Location"])
        ):
            verdicts.add(what, 302, "a redirect to the admin login")
        found = leaks(world, persona, _content(response), url)
        if found:
            verdicts.add(what, response.status_code, f"no other site's data, found {found}")
    conclude("admin", name or "anonymous", verdicts.rows)
