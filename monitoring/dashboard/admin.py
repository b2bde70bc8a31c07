"""Admin of the export jobs: read-only, for data managers (who exported what, when)."""

from __future__ import annotations

from django.contrib import admin

from trial.admin import RoleScopedPlainAdmin
from trial.models import Role

from .models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(RoleScopedPlainAdmin):
    site_field = None
    read_roles = frozenset({Role.DATA_MANAGER})
    write_roles = frozenset()
    list_display = [
        "pk",
        "kind",
        "requested_by",
        "status",
        "rows_done",
        "rows_total",
        "created_at",
        "finished_at",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["requested_by"]
    readonly_fields = [field.name for field in ExportJob._meta.fields]
    ordering = ["-created_at", "-pk"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
