"""Admin of ctDNA monitoring: labs (data managers), samples (site staff), and read-only results,
submissions and the Step 2 trigger outbox. Writes go through the services; nothing is deleted."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trial.admin import LargeTableMixin, ReadOnlyInline, ReasonForm, RoleScopedAdmin
from trial.exceptions import DomainError
from trial.models import CENTRAL_ROLES, SITE_ROLES, Patient, PatientStatus, Role
from trial.selectors.access import scope_by_site

from .models import CtdnaResult, CtdnaVariant, Lab, LabSubmission, Sample, TriggerOutbox
from .services.labs import lab_register, lab_update
from .services.outbox import outbox_process
from .services.samples import sample_correct, sample_record

DATA_MANAGERS = frozenset({Role.DATA_MANAGER})


class ServiceAdmin(RoleScopedAdmin):
    """The services own their durable transactions: skip the admin's outer atomic block."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_related(self, request, form, formsets, change):
        """Relations are written by the service in ``save_model``."""


class ReadOnlyAdmin(RoleScopedAdmin):
    write_roles = frozenset()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LabAddForm(forms.ModelForm):
    class Meta:
        model = Lab
        fields = ["code", "name", "sites"]


class LabChangeForm(ReasonForm):
    class Meta:
        model = Lab
        fields = ["name", "sites"]


@admin.register(Lab)
class LabAdmin(ServiceAdmin):
    site_field = None
    read_roles = DATA_MANAGERS
    write_roles = DATA_MANAGERS
    list_display = ["code", "name", "sites_served", "service_user"]
    list_select_related = ["service_user"]
    search_fields = ["code", "name"]
    filter_horizontal = ["sites"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("sites")

    @admin.display(description=_("sites served"))
    def sites_served(self, obj):
        return ", ".join(site.code for site in obj.sites.all())

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = LabChangeForm if obj else LabAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(LabAddForm.Meta.fields)
        return ["code", "service_user", *LabChangeForm.Meta.fields, "change_reason"]

    def get_readonly_fields(self, request, obj=None):
        return ["code", "service_user"] if obj else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                lab_update(
                    by=request.user,
                    lab=obj,
                    name=data["name"],
                    sites=data["sites"],
                    reason=data["change_reason"],
                )
                return
            created = lab_register(
                by=request.user, code=data["code"], name=data["name"], sites=data["sites"]
            )
            obj.pk = created.pk
        except DomainError as exc:
            raise PermissionDenied(str(exc.message)) from exc


class SampleAddForm(forms.ModelForm):
    class Meta:
        model = Sample
        fields = ["patient", "sample_id", "drawn_on"]


class SampleChangeForm(ReasonForm):
    class Meta:
        model = Sample
        fields = ["drawn_on"]


class ResultInline(ReadOnlyInline):
    model = CtdnaResult
    fk_name = "sample"
    fields = ["lab", "version", "status", "patient_status", "next_action", "analysed_on"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Sample)
class SampleAdmin(LargeTableMixin, ServiceAdmin):
    site_field = "patient__site"
    list_display = ["sample_id", "patient", "drawn_on", "first_result_on", "turnaround_days"]
    list_select_related = ["patient__site"]
    search_fields = ["sample_id", "patient__trial_number"]
    list_filter = ["patient__site"]
    date_hierarchy = "drawn_on"
    inlines = [ResultInline]
    list_per_page = 50

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = SampleChangeForm if obj else SampleAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(SampleAddForm.Meta.fields)
        return [*self.get_readonly_fields(request, obj), "drawn_on", "change_reason"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["sample_id", "patient", "first_result_on", "turnaround_days"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "patient":
            enrolled = Patient.objects.filter(status=PatientStatus.ENROLLED)
            kwargs["queryset"] = scope_by_site(enrolled, request.user).select_related("site")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        today = timezone.localdate()
        try:
            if change:
                sample_correct(
                    by=request.user,
                    sample=obj,
                    drawn_on=data["drawn_on"],
                    reason=data["change_reason"],
                    today=today,
                )
                return
            created = sample_record(
                by=request.user,
                patient=data["patient"],
                sample_id=data["sample_id"],
                drawn_on=data["drawn_on"],
                today=today,
            )
            obj.pk = created.pk
        except DomainError as exc:
            raise PermissionDenied(f"{exc.code}: {exc.message}") from exc


class VariantInline(ReadOnlyInline):
    model = CtdnaVariant
    fields = [
        "position",
        "gene",
        "protein_change",
        "protein_change_reported",
        "vaf",
        "copies_per_ml",
        "in_panel",
        "change",
        "previous_vaf",
        "previous_copies_per_ml",
        "reason",
    ]
    readonly_fields = fields


@admin.register(CtdnaResult)
class CtdnaResultAdmin(LargeTableMixin, ReadOnlyAdmin):
    site_field = "patient__site"
    read_roles = SITE_ROLES | CENTRAL_ROLES
    list_display = [
        "id",
        "lab",
        "sample",
        "patient",
        "collected_on",
        "analysed_on",
        "status",
        "patient_status",
        "next_action",
        "version",
        "turnaround_days",
    ]
    list_select_related = ["lab", "sample", "patient__site"]
    list_filter = ["status", "patient_status", "next_action", "lab"]
    search_fields = ["sample__sample_id", "patient__trial_number"]
    inlines = [VariantInline]
    exclude = ["payload"]
    readonly_fields = [
        "lab",
        "sample",
        "patient",
        "version",
        "amends",
        "amendment_reason",
        "collected_on",
        "analysed_on",
        "assay",
        "status",
        "failure_reason",
        "patient_status",
        "next_action",
        "interpretation_reason",
        "compared_with",
        "no_longer_detected",
        "turnaround_days",
        "submission",
        "entry_indexes",
        "content_sha256",
        "created_at",
        "created_by",
    ]
    list_per_page = 50


@admin.register(LabSubmission)
class LabSubmissionAdmin(LargeTableMixin, ReadOnlyAdmin):
    site_field = None
    read_roles = DATA_MANAGERS
    list_display = ["id", "lab", "channel", "media_type", "received_at", "body_sha256"]
    list_select_related = ["lab"]
    list_filter = ["channel", "lab"]
    readonly_fields = [
        "lab",
        "channel",
        "media_type",
        "received_at",
        "body_sha256",
        "created_by",
        "body",
    ]
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body")


@admin.register(TriggerOutbox)
class TriggerOutboxAdmin(ReadOnlyAdmin):
    site_field = None
    read_roles = DATA_MANAGERS
    list_display = [
        "id",
        "result",
        "patient",
        "created_at",
        "processed_at",
        "outcome",
        "notice",
        "attempts",
        "last_error",
    ]
    list_select_related = ["result", "patient__site"]
    list_filter = ["outcome", "notice"]
    readonly_fields = [
        "result",
        "patient",
        "created_at",
        "processed_at",
        "attempts",
        "last_attempt_at",
        "last_error",
        "outcome",
        "step2_trigger",
        "notice",
        "notified_at",
    ]
    actions = ["process_now"]
    list_per_page = 50

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self._role(request) not in DATA_MANAGERS and not request.user.is_superuser:
            actions.pop("process_now", None)
        return actions

    @admin.action(description=_("Process the selected pending rows now"))
    def process_now(self, request, queryset):
        for row in queryset.filter(processed_at=None):
            try:
                done = outbox_process(outbox_id=row.pk)
            except Exception as exc:  # recorded on the row; shown to the data manager
                self.message_user(request, f"{row}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{row}: {done.outcome or _('already processed')}")
