"""Server-rendered dashboards (htmx for the filters and the export progress), table CSVs and
exports. Every view checks the role first (``access``) and reads through scoped selectors.

An anonymous visitor is sent to the login page (an htmx request gets ``HX-Redirect``); a role
without access gets 403 ``dashboard_forbidden`` / ``export_forbidden``; a bad filter 400
``invalid_filter``; another site in the filter 404 ``not_found``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import LoginView, redirect_to_login
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trial.exceptions import DomainError
from trial.models import Protocol
from trial.selectors.access import profile_of, sites_visible_to

from .access import Page, pages_for, require_page, sees_arms
from .exceptions import DashboardFilterInvalid
from .exports.domains import CSV_KINDS
from .exports.streams import _Echo
from .exports.values import csv_cell
from .filters import DashboardFilters, parse_filters
from .models import ExportKind
from .pages import DESCRIPTIONS, PAGES
from .services import (
    export_job_file,
    export_job_get,
    export_job_list,
    export_job_request,
    export_stream_open,
)
from .snapshots import Snapshot, page_snapshot


class DashboardLoginView(LoginView):
    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("dashboard:overview")


def _error(request: HttpRequest, error: DomainError) -> HttpResponse:
    template = "dashboard/_error.html" if request.htmx else "dashboard/error.html"
    context = {
        "code": error.code,
        "message": error.message,
        "details": error.details,
        "pages": pages_for(request.user),
    }
    return render(request, template, context, status=error.status_code)


def dashboard_view(page: Page) -> Callable:
    """Login, then the page's role check; domain errors become an error page with the code."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                login = reverse("dashboard:login")
                if request.htmx:
                    return HttpResponse(status=401, headers={"HX-Redirect": login})
                return redirect_to_login(request.get_full_path(), login_url=login)
            try:
                require_page(request.user, page)
                return view(request, *args, **kwargs)
            except DomainError as error:
                return _error(request, error)

        return wrapper

    return decorator


def _base_context(request: HttpRequest, current: Page) -> dict:
    profile = profile_of(request.user)
    return {
        "pages": pages_for(request.user),
        "current": current,
        "profile": profile,
        "page_titles": {page: PAGES[page].title for page in PAGES},
    }


@require_GET
@dashboard_view(Page.OVERVIEW)
def overview(request: HttpRequest) -> HttpResponse:
    context = _base_context(request, Page.OVERVIEW)
    context["cards"] = [
        (page, PAGES[page].title if page in PAGES else _("Exports"), DESCRIPTIONS[page])
        for page in context["pages"]
        if page != Page.OVERVIEW
    ]
    return render(request, "dashboard/overview.html", context)


def _filter_context(request: HttpRequest, page: Page, filters: DashboardFilters) -> dict:
    spec = PAGES.get(page)
    choices = []
    if spec is not None:
        for name, values in spec.choices.items():
            labels = spec.choice_labels.get(name, {})
            choices.append(
                {
                    "name": name,
                    "selected": filters.extra.get(name),
                    "options": [(v, labels.get(v, v)) for v in values],
                }
            )
    return {
        "filters": filters,
        "query": filters.query_string(),
        "protocols": list(Protocol.objects.order_by("code").values_list("code", "title")),
        "sites": list(sites_visible_to(request.user).values_list("code", "name")),
        "choices": choices,
    }


def _panels(request: HttpRequest, page: Page) -> tuple[DashboardFilters, Snapshot]:
    """The page's panels: a fresh snapshot of the user's scope, or computed now (snapshots)."""
    spec = PAGES[page]
    filters = parse_filters(request.GET, user=request.user, choices=spec.choices)
    return filters, page_snapshot(page=page, user=request.user, filters=filters)


def _page(request: HttpRequest, page: Page) -> HttpResponse:
    filters, snapshot = _panels(request, page)
    if request.htmx and request.htmx.target == "panels":
        return HttpResponse(snapshot.html)
    context = _base_context(request, page)
    context.update(_filter_context(request, page, filters))
    context.update({"title": PAGES[page].title, "panels_html": snapshot.html, "page": page})
    context["by_arm_link"] = page == Page.EFFICACY and sees_arms(request.user)
    return render(request, "dashboard/page.html", context)


def _page_view(page: Page) -> Callable:
    @require_GET
    @dashboard_view(page)
    def view(request: HttpRequest) -> HttpResponse:
        return _page(request, page)

    view.__name__ = f"{page.value}_page"
    return view


PAGE_VIEWS = {page: _page_view(page) for page in PAGES}


def _table_csv(request: HttpRequest, page: Page, table: str) -> HttpResponse:
    filters, snapshot = _panels(request, page)
    for panel in snapshot.panels:
        for candidate in panel.tables:
            if candidate.key == table:
                writer = csv.writer(_Echo())
                lines = [writer.writerow(candidate.headers)]
                lines += [writer.writerow([csv_cell(v) for v in row]) for row in candidate.rows]
                name = f"{filters.protocol_code}-{page.value}-{table}.csv"
                return HttpResponse(
                    "".join(lines),
                    content_type="text/csv; charset=utf-8",
                    headers={
                        "Content-Disposition": f'attachment; filename="{name}"',
                        # when the figures were computed (the page says "as of" too)
                        "Last-Modified": http_date(snapshot.computed_at.timestamp()),
                        "X-Figures-As-Of": snapshot.computed_at.isoformat(timespec="seconds"),
                    },
                )
    raise DashboardFilterInvalid(details={"table": table})


def _table_view(page: Page) -> Callable:
    @require_GET
    @dashboard_view(page)
    def view(request: HttpRequest, table: str) -> HttpResponse:
        """The numbers of one chart as CSV, with the page's role check and filters."""
        return _table_csv(request, page, table)

    view.__name__ = f"{page.value}_table_csv"
    return view


TABLE_VIEWS = {page: _table_view(page) for page in PAGES}


# --- exports -------------------------------------------------------------------------------


def _exports_context(request: HttpRequest, filters: DashboardFilters) -> dict:
    context = _base_context(request, Page.EXPORTS)
    context.update(_filter_context(request, Page.EXPORTS, filters))
    context["title"] = _("Exports")
    context["kinds"] = [(kind, ExportKind(kind).label) for kind in [*CSV_KINDS, ExportKind.ODM]]
    context["jobs"] = export_job_list(user=request.user)
    return context


@require_GET
@dashboard_view(Page.EXPORTS)
def exports(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request.GET, user=request.user)
    context = _exports_context(request, filters)
    if request.htmx and request.htmx.target == "panels":
        return render(request, "dashboard/_exports_table.html", context)
    return render(request, "dashboard/exports.html", context)


def _kind(value: str) -> str:
    if value not in ExportKind.values:
        raise DashboardFilterInvalid(details={"export": value, "allowed": ExportKind.values})
    return value


@require_GET
@dashboard_view(Page.EXPORTS)
def export_download(request: HttpRequest, kind: str) -> HttpResponse:
    """A streamed export: rows leave as they are read, memory stays flat."""
    filters = parse_filters(request.GET, user=request.user)
    opened = export_stream_open(user=request.user, kind=_kind(kind), filters=filters)
    return StreamingHttpResponse(
        (chunk.encode("utf-8") for chunk in opened.chunks),
        content_type=opened.spec.content_type,
        headers={"Content-Disposition": f'attachment; filename="{opened.spec.filename}"'},
    )


@require_POST
@dashboard_view(Page.EXPORTS)
def export_job_create(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request.POST, user=request.user)
    job = export_job_request(
        user=request.user, kind=_kind(request.POST.get("kind", "")), filters=filters
    )
    if request.htmx:
        return render(request, "dashboard/_job.html", {"job": job})
    return HttpResponseRedirect(reverse("dashboard:exports"))


@require_GET
@dashboard_view(Page.EXPORTS)
def export_job_status(request: HttpRequest, pk: int) -> HttpResponse:
    job = export_job_get(user=request.user, job_id=pk)
    return render(request, "dashboard/_job.html", {"job": job})


@require_http_methods(["GET"])
@dashboard_view(Page.EXPORTS)
def export_job_download(request: HttpRequest, pk: int) -> HttpResponse:
    job, path = export_job_file(user=request.user, job_id=pk)
    content_type = "application/xml" if job.kind == ExportKind.ODM else "text/csv; charset=utf-8"
    return FileResponse(
        open(path, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=job.file_name,
        content_type=content_type,
    )
