"""Dashboard filters from the query string: validated once, applied to every panel's query.

``protocol`` (trial code; default the first protocol loaded, PADA1 before PALATINE by code),
``site`` (a site code the user may see: another site is "not found", as everywhere else),
``enrolled_from`` / ``enrolled_to`` (ISO dates, inclusive, on the enrolment date). Bad values
are refused with 400 ``invalid_filter``, never silently ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from django.db.models import Q

from trial.exceptions import NotFound
from trial.models import Protocol, Site
from trial.selectors.access import User, sites_visible_to

from .exceptions import DashboardFilterInvalid


@dataclass(frozen=True)
class DashboardFilters:
    protocol_code: str
    protocol_id: int
    site_code: str | None = None
    site_id: int | None = None
    enrolled_from: dt.date | None = None
    enrolled_to: dt.date | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def patient_q(self, prefix: str = "") -> Q:
        """Conditions on the patient reached by ``prefix`` (``""`` for Patient itself,
        ``"patient__"`` for a model with a patient foreign key)."""
        q = Q(**{f"{prefix}protocol_id": self.protocol_id})
        if self.site_id is not None:
            q &= Q(**{f"{prefix}site_id": self.site_id})
        if self.enrolled_from is not None:
            q &= Q(**{f"{prefix}enrolled_on__gte": self.enrolled_from})
        if self.enrolled_to is not None:
            q &= Q(**{f"{prefix}enrolled_on__lte": self.enrolled_to})
        return q

    def without_dates(self) -> DashboardFilters:
        """The same filters without the enrolment dates (screening and the CONSORT flow
        count patients who were never enrolled)."""
        return replace(self, enrolled_from=None, enrolled_to=None)

    def as_dict(self) -> dict[str, str]:
        values = {"protocol": self.protocol_code}
        if self.site_code:
            values["site"] = self.site_code
        if self.enrolled_from:
            values["enrolled_from"] = self.enrolled_from.isoformat()
        if self.enrolled_to:
            values["enrolled_to"] = self.enrolled_to.isoformat()
        values.update(self.extra)
        return values

    def query_string(self) -> str:
        return urlencode(self.as_dict())


def _date(params: Mapping[str, str], name: str) -> dt.date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as error:
        raise DashboardFilterInvalid(details={name: raw}) from error


def parse_filters(
    params: Mapping[str, str], *, user: User | None, choices: Mapping[str, tuple[str, ...]] = {}
) -> DashboardFilters:
    """Validate the query string. ``choices`` names extra single-choice parameters of a page
    (e.g. the safety characteristic) with their allowed values, the first being the default."""
    protocols = dict(Protocol.objects.order_by("code").values_list("code", "pk"))
    code = (params.get("protocol") or "").strip() or next(iter(protocols), "")
    if protocols and code not in protocols:
        raise DashboardFilterInvalid(details={"protocol": code, "allowed": sorted(protocols)})
    site_code = (params.get("site") or "").strip() or None
    site_id = None
    if site_code is not None:
        if not Site.objects.filter(code=site_code).exists():
            raise DashboardFilterInvalid(details={"site": site_code})
        site_id = sites_visible_to(user).filter(code=site_code).values_list("pk", flat=True).first()
        if site_id is None:
            raise NotFound(details={"site": site_code})
    enrolled_from = _date(params, "enrolled_from")
    enrolled_to = _date(params, "enrolled_to")
    if enrolled_from and enrolled_to and enrolled_from > enrolled_to:
        raise DashboardFilterInvalid(
            details={"enrolled_from": str(enrolled_from), "enrolled_to": str(enrolled_to)}
        )
    extra = {}
    for name, allowed in choices.items():
        value = (params.get(name) or "").strip() or allowed[0]
        if value not in allowed:
            raise DashboardFilterInvalid(details={name: value, "allowed": list(allowed)})
        extra[name] = value
    return DashboardFilters(
        protocol_code=code,
        protocol_id=protocols.get(code, 0),
        site_code=site_code,
        site_id=site_id,
        enrolled_from=enrolled_from,
        enrolled_to=enrolled_to,
        extra=extra,
    )
