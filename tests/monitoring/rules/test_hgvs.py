"""HGVS protein-change normalisation (monitoring.rules.hgvs).

Panel alleles from DOMAIN.md 1.4: E380Q, L536H/P/R, Y537C/N/S, D538G.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.rules.hgvs import (
    AMINO_ACIDS,
    INVALID_HGVS,
    HgvsError,
    ProteinChange,
    normalize_protein_change,
    parse_protein_change,
)

ONE_LETTER = sorted(AMINO_ACIDS.values())
THREE_BY_ONE = {one: three for three, one in AMINO_ACIDS.items()}


@pytest.mark.parametrize(
    "text",
    [
        "p.D538G",
        "D538G",
        "p.Asp538Gly",
        "Asp538Gly",
        "p.(Asp538Gly)",
        "(p.Asp538Gly)",
        "p.(D538G)",
        "(D538G)",
        "(Asp538Gly)",
        "p.asp538gly",
        "p.ASP538GLY",
        "p.d538g",
        "P.D538G",
        "  p.D538G\n",
    ],
)
def test_accepted_spellings_of_d538g_normalise_to_one_letter(text):
    assert normalize_protein_change(text) == "p.D538G"


def test_parse_returns_structured_change():
    change = parse_protein_change("p.(Tyr537Ser)")

    assert change == ProteinChange(ref="Y", position=537, alt="S")
    assert change.canonical == "p.Y537S"
    assert change.three_letter == "p.Tyr537Ser"
    assert change.codon == "Y537"
    assert str(change) == "p.Y537S"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("p.Glu380Gln", "p.E380Q"),
        ("p.Leu536His", "p.L536H"),
        ("p.Leu536Pro", "p.L536P"),
        ("p.Leu536Arg", "p.L536R"),
        ("p.Tyr537Cys", "p.Y537C"),
        ("p.Tyr537Asn", "p.Y537N"),
        ("p.Tyr537Ser", "p.Y537S"),
        ("p.Asp538Gly", "p.D538G"),
        ("p.Ser463Pro", "p.S463P"),
    ],
)
def test_panel_and_off_panel_alleles(text, canonical):
    assert normalize_protein_change(text) == canonical


@pytest.mark.parametrize("text", ["p.Trp24Ter", "p.Trp24*", "p.W24*", "W24*", "p.(Trp24Ter)"])
def test_nonsense_substitution_is_accepted_with_star(text):
    change = parse_protein_change(text)

    assert change.canonical == "p.W24*"
    assert change.three_letter == "p.Trp24Ter"


def test_position_one_is_the_first_valid_position():
    assert normalize_protein_change("p.Met1Val") == "p.M1V"


def test_five_digit_positions_are_accepted():
    assert normalize_protein_change("p.A34350V") == "p.A34350V"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("p.D0G", "position_zero"),
        ("p.Asp0Gly", "position_zero"),
        ("p.D0538G", "syntax"),
        ("p.A123456V", "syntax"),
        ("p.Asp538Asp", "no_change"),
        ("p.D538D", "no_change"),
        ("p.d538D", "no_change"),
        ("p.X538G", "unknown_amino_acid"),
        ("p.Xaa538Gly", "unknown_amino_acid"),
        ("p.D538B", "unknown_amino_acid"),
        ("p.Asx538Gly", "unknown_amino_acid"),
        ("p.Sec538Gly", "unknown_amino_acid"),
        ("p.U538G", "unknown_amino_acid"),
        ("p.Foo538Gly", "unknown_amino_acid"),
        ("p.Asp538del", "syntax"),
        ("p.Asp538dup", "syntax"),
        ("p.Asp538_Gly539insAla", "syntax"),
        ("p.Asp538delinsGlyAla", "syntax"),
        ("p.Asp538fs", "syntax"),
        ("p.Asp538GlyfsTer12", "syntax"),
        ("p.Asp538=", "syntax"),
        ("p.Asp538?", "syntax"),
        ("p.*596Glnext*17", "syntax"),
        ("p.*596Q", "syntax"),
        ("p.Ter596Gln", "syntax"),
        ("c.1613A>G", "syntax"),
        ("NP_000116.2:p.D538G", "syntax"),
        ("ESR1 D538G", "syntax"),
        ("p.Asp538G", "syntax"),
        ("p.D538Gly", "syntax"),
        ("p.(D538G", "syntax"),
        ("p.D538G)", "syntax"),
        ("((p.D538G))", "syntax"),
        ("(p.(D538G))", "syntax"),
        ("p.D 538G", "syntax"),
        ("p.D538GG", "syntax"),
        ("p.", "syntax"),
        ("", "syntax"),
        ("   ", "syntax"),
        ("D538", "syntax"),
        ("538G", "syntax"),
    ],
)
def test_rejected_values_raise_invalid_hgvs_with_reason(text, reason):
    with pytest.raises(HgvsError) as caught:
        normalize_protein_change(text)

    assert caught.value.code == INVALID_HGVS == "invalid_hgvs"
    assert caught.value.reason == reason
    assert caught.value.details == {"value": text, "reason": reason}
    assert caught.value.message


@pytest.mark.parametrize("value", [None, 538, b"p.D538G", ["p.D538G"]])
def test_non_strings_are_rejected(value):
    with pytest.raises(HgvsError) as caught:
        parse_protein_change(value)

    assert caught.value.reason == "syntax"


def test_hgvs_error_is_a_value_error():
    assert issubclass(HgvsError, ValueError)


@pytest.mark.parametrize("ref", ONE_LETTER)
@pytest.mark.parametrize("alt", ONE_LETTER)
def test_every_pair_of_amino_acids_agrees_in_both_forms(ref, alt):
    one = f"p.{ref}538{alt}"
    three = f"p.{THREE_BY_ONE[ref]}538{THREE_BY_ONE[alt]}"
    if ref == alt:
        for text in (one, three):
            with pytest.raises(HgvsError):
                normalize_protein_change(text)
    else:
        assert normalize_protein_change(three) == normalize_protein_change(one) == one


# Properties ------------------------------------------------------------------------------------

residues = st.sampled_from(ONE_LETTER)
positions = st.integers(min_value=1, max_value=99_999)


def _random_case(draw, text):
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips, strict=True))


@st.composite
def spellings(draw):
    """A valid substitution written in any accepted spelling, with its expected canonical form."""
    ref = draw(residues)
    alt = draw(residues.filter(lambda a: a != ref) | st.just("*"))
    position = draw(positions)
    three = draw(st.booleans())
    if three:
        alt_text = "Ter" if alt == "*" else THREE_BY_ONE[alt]
        body = f"{THREE_BY_ONE[ref]}{position}{alt_text}"
    else:
        body = f"{ref}{position}{alt}"
    body = _random_case(draw, body)
    wrap = draw(st.sampled_from(["{p}{b}", "{p}({b})", "({p}{b})", "{b}", "({b})"]))
    prefix = draw(st.sampled_from(["p.", "P."]))
    text = wrap.format(p=prefix, b=body)
    space = draw(st.sampled_from(["", " ", "\t"]))
    return space + text + space, f"p.{ref}{position}{alt}"


@given(spellings())
def test_every_accepted_spelling_normalises_to_its_canonical_form(case):
    text, canonical = case

    assert normalize_protein_change(text) == canonical


@given(spellings())
def test_normalisation_is_idempotent(case):
    text, _ = case
    once = normalize_protein_change(text)

    assert normalize_protein_change(once) == once
    assert normalize_protein_change(parse_protein_change(once).three_letter) == once


@given(st.text(max_size=30))
def test_arbitrary_text_is_normalised_to_a_fixed_point_or_rejected(text):
    try:
        once = normalize_protein_change(text)
    except HgvsError as error:
        assert error.code == "invalid_hgvs"
    else:
        assert normalize_protein_change(once) == once


@given(residues, residues, positions)
def test_one_and_three_letter_forms_agree(ref, alt, position):
    one = f"p.{ref}{position}{alt}"
    three = f"p.({THREE_BY_ONE[ref]}{position}{THREE_BY_ONE[alt]})"
    if ref == alt:
        with pytest.raises(HgvsError):
            normalize_protein_change(three)
    else:
        assert parse_protein_change(three) == parse_protein_change(one)
