"""Shared pieces of the access matrices: role groups, leak detection, the verdict table."""

from __future__ import annotations

from dataclasses import dataclass, field

from trial.models import CENTRAL_ROLES, SITE_ROLES, Role

from .world import Persona, World

INVESTIGATOR = frozenset({Role.INVESTIGATOR})
SITE_STAFF = SITE_ROLES
CENTRAL = CENTRAL_ROLES
READERS = SITE_ROLES | CENTRAL_ROLES
DATA_MONITORING = frozenset({Role.STATISTICIAN, Role.DATA_MANAGER})
DATA_MANAGER = frozenset({Role.DATA_MANAGER})
LAB = frozenset({Role.LAB})
NOBODY: frozenset[str] = frozenset()
#: Roles that work on pseudonymised data: the screening number (the site's key to the
#: patient's identity) never reaches them.
PSEUDONYMISED = frozenset({Role.SPONSOR_MONITOR, Role.STATISTICIAN, Role.LAB})

#: Every persona of the world, and the anonymous visitor (None).
PERSONAS = ("inv_a", "coord_a", "inv_b", "coord_b", "dm", "sponsor", "stat", "lab_a", "lab_b")
TARGET_SITE = "FR01"  # every object in a URL belongs to site A


def may(persona: Persona | None, roles: frozenset[str], *, scoped: bool) -> bool:
    """Whether ``persona`` may use a route open to ``roles``; a ``scoped`` route acts on a
    site A object, which site-bound personas reach only at their own site."""
    if persona is None or persona.role not in roles:
        return False
    return not scoped or persona.central or persona.site == TARGET_SITE


def leaks(world: World, persona: Persona | None, body: str, request_text: str) -> list[str]:
    """Data in a response that the persona must not see (and did not send itself): another
    site's codes, screening numbers and sample ids; screening numbers for pseudonymised roles."""
    if persona is None:
        forbidden = set().union(*(world.markers[code] for code in ("FR01", "FR02")))
    elif persona.central:
        forbidden = set()
    else:
        other = "FR02" if persona.site == "FR01" else "FR01"
        forbidden = set(world.markers[other])
    if persona is not None and persona.role in PSEUDONYMISED:
        forbidden |= world.markers["screening_numbers"]
    return sorted(m for m in forbidden if m in body and m not in request_text)


@dataclass
class Verdicts:
    """Collects every mismatch so that one run shows the whole matrix's problems."""

    rows: list[str] = field(default_factory=list)

    def add(self, what: str, status: int, expected: str) -> None:
        self.rows.append(f"{what}: got {status}, expected {expected}")

    def report(self) -> str:
        return "\n".join(self.rows)
