"""Read the figures, tables and charts of a dashboard page (the numbers the user sees)."""

from __future__ import annotations

import re
from html import unescape

_TAG = re.compile(r"<[^>]+>")


def _text(fragment: str) -> str:
    return unescape(_TAG.sub("", fragment)).strip()


def figures(html: str) -> dict[str, str]:
    """data-figure key -> the displayed value."""
    return {
        key: _text(value)
        for key, value in re.findall(
            r'<div data-figure="([\w-]+)"><dt>.*?</dt><dd>(.*?)</dd></div>', html, re.S
        )
    }


def table(html: str, key: str) -> list[list[str]]:
    """The rows (header row first) of ``<table data-table="key">`` as displayed text."""
    match = re.search(rf'<table data-table="{key}">(.*?)</table>', html, re.S)
    assert match, f"no table {key}"
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S):
        rows.append([_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)])
    return rows


def tables(html: str) -> list[str]:
    return re.findall(r'<table data-table="([\w-]+)">', html)


def charts(html: str) -> list[str]:
    """The ids of the inline SVG charts."""
    return re.findall(r'<svg xmlns="http://www.w3.org/2000/svg"[^>]* id="([\w-]+)"', html)


def cell(value: float | int | None) -> str:
    """How the template prints a table value."""
    return "–" if value is None else str(value)
