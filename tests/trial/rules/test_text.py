"""NUL detection in text and in parsed JSON, at any depth (trial/rules/text.py)."""

import pytest

from trial.rules.text import contains_nul


@pytest.mark.parametrize(
    "value",
    [
        "\x00",
        "a\x00b",
        {"k\x00": 1},
        {"k": "v\x00"},
        [1, "ok", {"deep": [{"deeper": "\x00"}]}],
        ({"k": ("a", "\x00")},),
    ],
)
def test_nul_anywhere_is_found(value):
    assert contains_nul(value)


@pytest.mark.parametrize(
    "value",
    [None, "", "\\u0000", "a b", 0, 1.5, True, {"k": "v", "n": None}, [[], {}, ["\\x00"]]],
)
def test_text_without_nul_passes(value):
    assert not contains_nul(value)


def test_deep_nesting_does_not_recurse():
    value = "\x00"
    for _ in range(10_000):
        value = [value]
    assert contains_nul(value)
