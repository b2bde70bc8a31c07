"""Every route of the project, read from the URLconf, so that a new route cannot be missed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern: its full template (``api/v1/patients/<int:patient_id>/``), its
    namespaced name and its view callback."""

    template: str
    name: str
    callback: Any

    @property
    def params(self) -> list[str]:
        return [m["name"] for m in _PARAM.finditer(self.template)]

    def url(self, **values: Any) -> str:
        missing = set(self.params) - set(values)
        if missing:
            raise KeyError(f"{self.name}: no value for {sorted(missing)}")
        return "/" + _PARAM.sub(lambda m: str(values[m["name"]]), self.template)

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def methods(self) -> list[str]:
        """The HTTP methods the view implements (GET for function views)."""
        cls = self.view_class
        if cls is None:
            return ["GET"]
        return [m.upper() for m in HTTP_METHODS if hasattr(cls, m)]


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
            yield Route(
                template=prefix + str(pattern.pattern), name=name, callback=pattern.callback
            )


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def api_routes() -> list[Route]:
    return [r for r in all_routes() if r.template.startswith("api/v1/")]


def dashboard_routes() -> list[Route]:
    return [r for r in all_routes() if r.name.startswith("dashboard:")]


def admin_routes() -> list[Route]:
    return [r for r in all_routes() if r.template.startswith("admin/")]
