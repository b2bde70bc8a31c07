"""Who acts in the simulated trial: sites and their staff, the central laboratories with their
service accounts, the statistician's randomization design, and authenticated API clients.

Every actor goes through the product: laboratories are registered by the data manager
(``lab_register``), tokens are issued and rotated with ``api_token_issue``/``api_token_revoke``
(the README's rotation procedure: a new token, then the old one revoked, well before the
90-day expiry), the design is generated and activated by the statistician.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from monitoring.models import Lab
from monitoring.services.labs import lab_register, lab_update
from randomization.models import Design, DesignStatus
from randomization.services.designs import design_generate
from randomization.services.lifecycle import design_activate
from trial.models import ProtocolVersion, Role, Site, StaffProfile
from trial.services.accounts import api_token_issue, api_token_revoke

from .environment import API_HOST
from .meter import Meter

# Tokens are replaced this long before they expire (API_TOKEN_TTL_DAYS, 90 by default).
ROTATE_BEFORE_EXPIRY = dt.timedelta(days=30)
LAB_COUNT = 2  # PADA-1 ran its ddPCR assay on two platforms [C:S7]


class SimulationError(RuntimeError):
    """The product refused something a simulated actor did in good faith: a simulator or a
    product defect, reported with the day, the patient and the answer."""


class ApiActor:
    """An API client authenticated with its own rotating token (``Authorization: Token``)."""

    def __init__(self, user: Any, label: str):
        self.user = user
        self.label = label
        self.client = APIClient(HTTP_HOST=API_HOST)
        self.token: Any = None
        self.requests = 0
        self.rotations = 0
        self.meter: Meter | None = None
        self._issue()

    def _issue(self) -> None:
        previous = self.token
        self.token, key = api_token_issue(user=self.user, label=self.label)
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        if previous is not None:
            api_token_revoke(token=previous)
            self.rotations += 1

    def rotate_if_due(self) -> None:
        if self.token.expires_at - timezone.now() <= ROTATE_BEFORE_EXPIRY:
            self._issue()

    def post(self, path: str, data: Any, *, expect: int, operation: str, **headers: str) -> Any:
        self.requests += 1
        if self.meter is None:
            response = self.client.post(path, data, format="json", secure=True, **headers)
        else:
            with self.meter.measure(operation):
                response = self.client.post(path, data, format="json", secure=True, **headers)
        if response.status_code != expect:
            raise SimulationError(
                f"POST {path} as {self.user.get_username()}: HTTP {response.status_code} "
                f"{response.content[:800]!r}"
            )
        return response.json()


@dataclass
class SiteTeam:
    site: Site
    investigator: Any
    coordinator: Any
    investigator_api: ApiActor | None = None
    coordinator_api: ApiActor | None = None


@dataclass(frozen=True)
class Staffing:
    """The people of the trial. ``coordinators[i]`` may be the investigator of site ``i``."""

    sites: list[Site]
    investigators: list[Any]
    coordinators: list[Any]
    data_manager: Any
    statistician: Any
    password: str


@dataclass
class LabAccount:
    lab: Lab
    api: ApiActor


@dataclass
class World:
    version: ProtocolVersion
    teams: list[SiteTeam]
    labs: list[LabAccount]
    lab_of_site: dict[int, LabAccount]
    staffing: Staffing
    design: Design
    actors: list[ApiActor] = field(default_factory=list)

    def rotate_tokens(self) -> None:
        for actor in self.actors:
            actor.rotate_if_due()

    @property
    def api_requests(self) -> int:
        return sum(actor.requests for actor in self.actors)

    @property
    def token_rotations(self) -> int:
        return sum(actor.rotations for actor in self.actors)


def _user(username: str, role: str, sites: list[Site], password: str) -> Any:
    users = get_user_model().objects
    user = users.filter(username=username).first()
    if user is None:
        user = users.create_user(
            username=username,
            password=password,
            email=f"{username}@example.org",
            is_staff=True,
        )
        profile = StaffProfile.objects.create(user=user, role=role)
        profile.sites.set(sites)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def synthetic_staffing(*, sites: int, seed: int) -> Staffing:
    """Sites SIM01.. with an investigator and a research coordinator each, a data manager and
    a statistician (accounts ``sim-*``; their password exists only in this process)."""
    password = secrets.token_urlsafe(18)
    created = []
    with transaction.atomic():
        for number in range(1, sites + 1):
            code = f"SIM{number:02d}"
            site, _ = Site.objects.get_or_create(
                code=code,
                defaults={"name": f"Simulated centre {number:02d} (seed {seed})", "country": "FR"},
            )
            created.append(site)
        investigators = [
            _user(f"sim-inv-{s.code.lower()}", Role.INVESTIGATOR, [s], password) for s in created
        ]
        coordinators = [
            _user(f"sim-crc-{s.code.lower()}", Role.COORDINATOR, [s], password) for s in created
        ]
        data_manager = _user("sim-datamanager", Role.DATA_MANAGER, [], password)
        statistician = _user("sim-statistician", Role.STATISTICIAN, [], password)
    return Staffing(created, investigators, coordinators, data_manager, statistician, password)


def _staff(role: str, site: Site | None = None) -> Any:
    profiles = StaffProfile.objects.filter(role=role, user__is_active=True).select_related("user")
    if site is not None:
        profiles = profiles.filter(sites=site)
    profile = profiles.order_by("user__username").first()
    return None if profile is None else profile.user


def existing_staffing(*, site_codes: list[str], password: str) -> Staffing:
    """The sites ``site_codes`` and the staff already there: the first investigator of each
    site (by username), its first research coordinator (else the investigator), the first
    data manager and statistician. ``password`` is the investigators' (they sign with it)."""
    sites = list(Site.objects.filter(code__in=site_codes).order_by("code"))
    missing = sorted(set(site_codes) - {s.code for s in sites})
    if missing:
        raise SimulationError(f"unknown sites: {', '.join(missing)}")
    investigators = [_staff(Role.INVESTIGATOR, site) for site in sites]
    if None in investigators:
        raise SimulationError("every site needs an active investigator")
    coordinators = [
        _staff(Role.COORDINATOR, site) or inv
        for site, inv in zip(sites, investigators, strict=True)
    ]
    data_manager, statistician = _staff(Role.DATA_MANAGER), _staff(Role.STATISTICIAN)
    if data_manager is None or statistician is None:
        raise SimulationError("the trial needs an active data manager and a statistician")
    for user in investigators:
        if not user.check_password(password):
            raise SimulationError(f"the password given is not {user.get_username()}'s")
    return Staffing(sites, investigators, coordinators, data_manager, statistician, password)


def _labs(staffing: Staffing) -> list[Lab]:
    labs = []
    for number in range(1, LAB_COUNT + 1):
        served = [s for i, s in enumerate(staffing.sites) if i % LAB_COUNT == number - 1]
        code = f"CTDNA-LAB{number}"
        lab = Lab.objects.filter(code=code).first()
        if lab is None:
            lab = lab_register(
                by=staffing.data_manager,
                code=code,
                name=f"Central ddPCR laboratory {number}",
                sites=served,
            )
        elif set(lab.sites.all()) != set(served):
            lab = lab_update(
                by=staffing.data_manager,
                lab=lab,
                name=lab.name,
                sites=served,
                reason="sites of the simulated trial",
            )
        labs.append(lab)
    return labs


def _design(version: ProtocolVersion, staffing: Staffing, *, seed: int, length: int) -> Design:
    """The protocol's active design, or a new one the statistician generates and activates."""
    active = Design.objects.filter(
        protocol_id=version.protocol_id, status=DesignStatus.ACTIVE
    ).first()
    if active is not None:
        return active
    secret = hashlib.sha256(f"pada1-simulation-list:{seed}".encode()).hexdigest()
    design = design_generate(
        protocol_version=version, by=staffing.statistician, seed=secret, length=length
    )
    return design_activate(design=design, by=staffing.statistician)


def build_world(version: ProtocolVersion, staffing: Staffing, *, seed: int, patients: int) -> World:
    teams = [
        SiteTeam(site, inv, crc)
        for site, inv, crc in zip(
            staffing.sites, staffing.investigators, staffing.coordinators, strict=True
        )
    ]
    world = World(
        version=version,
        teams=teams,
        labs=[],
        lab_of_site={},
        staffing=staffing,
        design=_design(version, staffing, seed=seed, length=max(40, patients // 2)),
    )
    for team in teams:
        team.investigator_api = ApiActor(team.investigator, f"simulation {team.site.code} inv")
        world.actors.append(team.investigator_api)
        if team.coordinator == team.investigator:
            team.coordinator_api = team.investigator_api
        else:
            team.coordinator_api = ApiActor(team.coordinator, f"simulation {team.site.code} crc")
            world.actors.append(team.coordinator_api)
    for lab in _labs(staffing):
        account = LabAccount(lab, ApiActor(lab.service_user, f"lab {lab.code}"))
        world.labs.append(account)
        world.actors.append(account.api)
    for index, _site in enumerate(staffing.sites):
        world.lab_of_site[index] = world.labs[index % LAB_COUNT]
    return world
