"""Helpers shared by the deployment tests."""

from __future__ import annotations

import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
DEPLOY = BASE_DIR / "deploy"


def settings_variables() -> set[str]:
    """Every environment variable deploy/settings.py reads."""
    source = (DEPLOY / "settings.py").read_text()
    names = set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    names |= set(re.findall(r"Env\(\)\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    names |= set(re.findall(r"os\.environ(?:\.get)?[\(\[]\s*\"([A-Z][A-Z0-9_]*)\"", source))
    return names
