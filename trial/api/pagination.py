"""The one pagination of the API's lists: limit and offset, with a bounded limit."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class TrialPagination(LimitOffsetPagination):
    """Pages of ``PAGE_SIZE`` items by default; a ``limit`` above ``max_limit`` is cut to it.

    Unbounded, a limit past PostgreSQL's bigint (``?limit=10489199658010339704832``) failed the
    query with a 500. An offset past the count answers an empty page without a query (DRF).
    """

    max_limit = 1000
