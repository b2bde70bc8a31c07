"""Normalisation of ESR1 protein changes written in HGVS protein nomenclature.

Labs report the ESR1 mutations found in plasma ctDNA as protein changes (DOMAIN.md 1.4: hotspot
codons E380, L536, Y537, D538 [C:S6]; alleles E380Q, L536H/P/R, Y537C/N/S, D538G [M]). The
issue's JSON contract accepts both the one-letter and the three-letter amino-acid code; the
trial stores one canonical spelling so that results can be compared sample to sample.

Source: HGVS Nomenclature, protein-level recommendations (varnomen.hgvs.org, "Protein:
Substitution"), version 21.0. A substitution is ``p.<ref><position><alt>``, e.g.
``p.Asp538Gly`` or ``p.D538G``; parentheses, ``p.(Asp538Gly)``, mark a change predicted from
DNA rather than observed in protein.

Accepted (surrounding whitespace ignored, amino-acid codes and the ``p.`` prefix
case-insensitive):

- ``p.D538G``, ``D538G``, ``p.Asp538Gly``, ``Asp538Gly``;
- one pair of parentheses round the change or round the whole value: ``p.(Asp538Gly)``,
  ``(p.Asp538Gly)``, ``(D538G)``. Every protein change derived from a ctDNA assay is a
  prediction, so the marker carries no information here and the canonical form drops it;
- nonsense substitutions, the alternative amino acid being the stop codon (``p.Trp24Ter``,
  ``p.W24*``; canonical ``p.W24*``). The ESR1 panel never reports one, but one reported by a
  lab is a valid substitution and is kept and flagged off-panel by the interpretation rules
  rather than rejected.

Rejected with :class:`HgvsError` (stable code ``invalid_hgvs``), each with a ``reason``:

- ``syntax``: anything that is not a single-residue substitution. This covers deletions
  (``p.Asp538del``), duplications, insertions, delins, frameshifts (``p.Asp538fs``),
  extensions, stop-loss (``p.*596Glnext*17``), DNA-level notation (``c.1613A>G``), reference
  sequence prefixes (``NP_000116.2:p.D538G``), mixed one/three-letter codes (``p.Asp538G``),
  unbalanced parentheses and leading zeros in the position. The ddPCR panel (DOMAIN.md 1.4)
  reports single-codon missense hotspots only, and the (reference, position, alternative)
  structure below cannot represent the other kinds of change;
- ``unknown_amino_acid``: a code that is not one of the 20 standard amino acids (``Xaa``/``X``,
  the ambiguity codes ``Asx``/``B`` and ``Glx``/``Z``, selenocysteine ``Sec``/``U`` and
  pyrrolysine ``Pyl``/``O``, which ESR1 does not contain); the stop codon is accepted only as
  the alternative residue;
- ``no_change``: the same residue on both sides (``p.Asp538Asp``): it is not a mutation. The
  HGVS spelling of an unchanged residue, ``p.Asp538=``, is rejected as ``syntax``;
- ``position_zero``: HGVS protein positions start at 1 (the initiator methionine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

INVALID_HGVS = "invalid_hgvs"

STOP = "*"

#: The 20 standard amino acids, three-letter code -> one-letter code (IUPAC-IUB).
AMINO_ACIDS: dict[str, str] = {
    "Ala": "A",
    "Arg": "R",
    "Asn": "N",
    "Asp": "D",
    "Cys": "C",
    "Gln": "Q",
    "Glu": "E",
    "Gly": "G",
    "His": "H",
    "Ile": "I",
    "Leu": "L",
    "Lys": "K",
    "Met": "M",
    "Phe": "F",
    "Pro": "P",
    "Ser": "S",
    "Thr": "T",
    "Trp": "W",
    "Tyr": "Y",
    "Val": "V",
}

_ONE_TO_THREE: dict[str, str] = {one: three for three, one in AMINO_ACIDS.items()}
_THREE_UPPER_TO_ONE: dict[str, str] = {three.upper(): one for three, one in AMINO_ACIDS.items()}
_STOP_THREE = "TER"
# Three-letter HGVS keywords that the three-letter pattern would otherwise read as a residue.
_OTHER_CHANGE_KEYWORDS = frozenset({"DEL", "DUP", "INS"})

# Positions have no leading zero and at most five digits (the longest human protein, titin, has
# about 35,000 residues).
_POSITION = r"[0-9]{1,5}"
_THREE_LETTER = re.compile(rf"([A-Za-z]{{3}})({_POSITION})([A-Za-z]{{3}}|\*)")
_ONE_LETTER = re.compile(rf"([A-Za-z])({_POSITION})([A-Za-z]|\*)")
_PREFIX = re.compile(r"[pP]\.")


class HgvsError(ValueError):
    """A protein change that is not a supported HGVS substitution.

    ``code`` is always ``invalid_hgvs``; ``reason`` says which rule failed (``syntax``,
    ``unknown_amino_acid``, ``no_change``, ``position_zero``); ``details`` carries the value.
    """

    code = INVALID_HGVS

    def __init__(self, message: str, *, value: Any, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.details = {"value": value, "reason": reason}


@dataclass(frozen=True, slots=True)
class ProteinChange:
    """A single-residue substitution: one-letter ``ref``, 1-based ``position``, ``alt``.

    ``alt`` is a one-letter code or ``*`` for the stop codon.
    """

    ref: str
    position: int
    alt: str

    @property
    def canonical(self) -> str:
        """One-letter HGVS, the stored form: ``p.D538G``."""
        return f"p.{self.ref}{self.position}{self.alt}"

    @property
    def three_letter(self) -> str:
        """Three-letter HGVS, for display and FHIR: ``p.Asp538Gly``."""
        alt = "Ter" if self.alt == STOP else _ONE_TO_THREE[self.alt]
        return f"p.{_ONE_TO_THREE[self.ref]}{self.position}{alt}"

    @property
    def codon(self) -> str:
        """The reference residue and position, e.g. ``D538`` (DOMAIN.md 1.4 hotspot codons)."""
        return f"{self.ref}{self.position}"

    def __str__(self) -> str:
        return self.canonical


def parse_protein_change(value: object) -> ProteinChange:
    """Parse an HGVS protein substitution in any accepted spelling (see module docstring).

    Raises :class:`HgvsError` (code ``invalid_hgvs``) for anything else, including non-strings.
    """
    if not isinstance(value, str):
        raise HgvsError("The protein change must be a string.", value=value, reason="syntax")
    body = _strip_decorations(value)
    match = _THREE_LETTER.fullmatch(body) or _ONE_LETTER.fullmatch(body)
    if match is None:
        raise HgvsError(
            f"{value!r} is not an HGVS protein substitution such as p.D538G or p.Asp538Gly.",
            value=value,
            reason="syntax",
        )
    ref_code, position_text, alt_code = match.groups()
    if alt_code.upper() in _OTHER_CHANGE_KEYWORDS:
        raise HgvsError(
            f"{value!r} is a deletion, duplication or insertion: the panel covers substitutions.",
            value=value,
            reason="syntax",
        )
    ref = _residue(ref_code, value=value, allow_stop=False)
    alt = _residue(alt_code, value=value, allow_stop=True)
    if position_text.startswith("0"):
        reason = "position_zero" if int(position_text) == 0 else "syntax"
        raise HgvsError(
            f"{value!r}: protein positions are whole numbers from 1, without leading zeros.",
            value=value,
            reason=reason,
        )
    if ref == alt:
        raise HgvsError(
            f"{value!r} has the same amino acid on both sides: it is not a substitution.",
            value=value,
            reason="no_change",
        )
    return ProteinChange(ref=ref, position=int(position_text), alt=alt)


def normalize_protein_change(value: object) -> str:
    """Return the canonical one-letter form (``p.D538G``) of an accepted protein change.

    Idempotent: ``normalize_protein_change(normalize_protein_change(x)) == normalize_...(x)``.
    Raises :class:`HgvsError` (code ``invalid_hgvs``).
    """
    return parse_protein_change(value).canonical


def _strip_decorations(value: str) -> str:
    """Remove surrounding whitespace, one ``p.`` prefix and one pair of parentheses."""
    text = value.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
        return text[2:] if _PREFIX.match(text) else text
    if _PREFIX.match(text):
        text = text[2:]
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return text


def _residue(code: str, *, value: str, allow_stop: bool) -> str:
    """Map a one- or three-letter code to its one-letter form (``*`` for the stop codon)."""
    upper = code.upper()
    if upper in (STOP, _STOP_THREE):
        if allow_stop:
            return STOP
        raise HgvsError(
            f"{value!r}: a stop codon as the reference residue is an extension, not a "
            "substitution.",
            value=value,
            reason="syntax",
        )
    one = _THREE_UPPER_TO_ONE.get(upper) if len(upper) == 3 else upper
    if one is None or one not in _ONE_TO_THREE:
        raise HgvsError(
            f"{value!r}: {code!r} is not one of the 20 standard amino acids.",
            value=value,
            reason="unknown_amino_acid",
        )
    return one
