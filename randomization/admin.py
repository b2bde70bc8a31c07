"""Randomization in the admin: read-only everywhere (designs change through the statistician's
commands, allocations through the randomize endpoint).

Concealment: designs and their lists are visible to the statistician and the data manager
only, and opening a design's page (which shows its list) leaves an audit event. Site staff
see their own sites' allocations, which exist only once made; the list entry behind an
allocation (its block) is never shown. The sponsor monitor sees no patient-level arm.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from randomization.models import Allocation, Crossover, Design, Method
from randomization.selectors.allocations import ALLOCATION_READERS
from randomization.selectors.designs import (
    DESIGN_FIELDS,
    LIST_READERS,
    design_draws,
    design_entries,
)
from randomization.services.lifecycle import design_list_open
from trial.admin import RoleScopedAdmin


class ReadOnlyAdmin(RoleScopedAdmin):
    write_roles = frozenset()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Design)
class DesignAdmin(ReadOnlyAdmin):
    site_field = None
    read_roles = LIST_READERS
    list_display = [
        "protocol",
        "number",
        "method",
        "source",
        "status",
        "algorithm_version",
        "list_sha256",
        "activated_at",
    ]
    list_filter = ["protocol", "status", "method"]
    list_select_related = ["protocol"]
    fields = [*DESIGN_FIELDS, "sealed_content"]
    readonly_fields = fields

    def _reads_lists(self, request) -> bool:
        return self._role(request) in LIST_READERS

    def get_fields(self, request, obj=None):
        if self._reads_lists(request):
            return self.fields
        return [f for f in self.fields if f != "sealed_content"]  # a superuser without a role

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Log before the admin opens its own transaction (the service's is durable).
        design = self.get_object(request, object_id)
        if design is not None and self._reads_lists(request):
            design_list_open(design=design, by=request.user, purpose="admin")
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("list"))
    def sealed_content(self, obj: Design):
        if obj.method == Method.MINIMIZATION:
            header = (_("sequence"), _("draw (of 2^53)"))
            rows = ((d.sequence_number, d.draw_53bit) for d in design_draws(design=obj))
        else:
            header = (_("stratum"), _("sequence"), _("block"), _("block size"), _("arm"))
            rows = (
                (e.stratum, e.sequence_number, e.block_number, e.block_size, e.arm)
                for e in design_entries(design=obj)
            )
        head = format_html_join("", "<th>{}</th>", ((h,) for h in header))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((value,) for value in row)),) for row in rows),
        )
        return format_html("<table><tr>{}</tr>{}</table>", head, body)


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    site_field = "patient__site"
    read_roles = ALLOCATION_READERS
    list_display = [
        "patient",
        "arm",
        "allocated_on",
        "stratum",
        "sequence_number",
        "design",
        "created_by",
    ]
    list_filter = ["arm", "allocated_on"]
    list_select_related = ["patient__site", "design__protocol", "created_by"]
    search_fields = ["patient__trial_number"]
    fields = [
        "patient",
        "design",
        "arm",
        "allocated_on",
        "stratum",
        "levels",
        "sequence_scope",
        "sequence_number",
        "minimization",
        "idempotency_key",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields


@admin.register(Crossover)
class CrossoverAdmin(ReadOnlyAdmin):
    site_field = "patient__site"
    read_roles = ALLOCATION_READERS
    list_display = ["patient", "decided_on", "progression", "line", "created_by"]
    list_select_related = ["patient__site", "progression", "line__patient", "created_by"]
    fields = ["patient", "allocation", "progression", "line", "decided_on", "created_by"]
    readonly_fields = fields
