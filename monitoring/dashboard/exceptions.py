"""Errors of the central-monitoring dashboards and exports, each with a stable ``code``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from trial.exceptions import Conflict, Forbidden, InvalidInput, NotFound


class DashboardFilterInvalid(InvalidInput):
    code = "invalid_filter"
    default_message = _("A filter value is not valid.")


class DashboardPageForbidden(Forbidden):
    code = "dashboard_forbidden"
    default_message = _("Your role does not give access to this dashboard.")


class ExportForbidden(Forbidden):
    code = "export_forbidden"
    default_message = _("Your role does not allow this export.")


class ExportUnknown(NotFound):
    code = "unknown_export"
    default_message = _("No such export.")


class ExportNotReady(Conflict):
    code = "export_not_ready"
    default_message = _("The export file is not ready.")
