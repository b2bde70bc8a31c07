"""Text the database can store.

PostgreSQL ``text`` and ``jsonb`` cannot hold the NUL character (U+0000); SQLite can. A value
carrying one is refused where it enters, so that both engines accept the same data and a
NUL never reaches PostgreSQL as an error.
"""

from __future__ import annotations

from typing import Any


def contains_nul(value: Any) -> bool:
    """True when a string, or any key or string value of nested dicts and lists, holds NUL."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return True
                stack.append(child)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False
