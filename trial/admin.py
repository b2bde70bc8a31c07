"""The admin is where site staff work. Querysets are site-scoped through the same selectors as
the API; writes go through the same services; edits after creation require a reason; nothing
can be deleted; audit rows are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from trial.exceptions import DomainError
from trial.models import (
    CENTRAL_ROLES,
    SITE_ROLES,
    ApiToken,
    AromataseInhibitor,
    AuditEvent,
    Consent,
    EligibilityAssessment,
    Patient,
    ProtocolVersion,
    Role,
    Site,
    StaffProfile,
    TreatmentLine,
)
from trial.selectors.access import profile_of, scope_by_site
from trial.services import patients as svc


class RoleScopedAdmin(SimpleHistoryAdmin):
    """Base admin: readers see their sites' rows; site staff write; nobody deletes."""

    site_field: str | None = "site"
    write_roles: frozenset[str] = SITE_ROLES
    read_roles: frozenset[str] = SITE_ROLES | CENTRAL_ROLES

    def _role(self, request) -> str | None:
        profile = profile_of(request.user)
        return profile.role if profile else None

    def has_module_permission(self, request):
        return request.user.is_superuser or self._role(request) in self.read_roles

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self._role(request) in self.write_roles

    def has_change_permission(self, request, obj=None):
        return self._role(request) in self.write_roles

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if self.site_field is None or request.user.is_superuser:
            return qs
        return scope_by_site(qs, request.user, self.site_field)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EligibilityInline(ReadOnlyInline):
    model = EligibilityAssessment
    fields = ["assessed_on", "eligible", "checklist", "created_by"]
    readonly_fields = fields
    verbose_name_plural = _("eligibility checklist")

    @admin.display(description=_("criteria"))
    def checklist(self, obj):
        rows = "".join(
            f"<li>{'✔' if r['outcome'] == 'passed' else '✘'} {r['section']} "
            f"<b>{r['id']}</b>: {r['reason']}</li>"
            for r in obj.results
        )
        return format_html("<ul style='margin:0'>{}</ul>", format_html(rows))  # noqa: S308


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ["form_version", "consented_on", "taken_by", "withdrawn_on", "withdrawal_reason"]
    readonly_fields = fields


class TreatmentLineInline(ReadOnlyInline):
    model = TreatmentLine
    fields = [
        "step",
        "regimen",
        "endocrine_drug",
        "palbociclib_dose_mg",
        "planned_c1d1",
        "started_on",
        "ended_on",
        "end_reason",
    ]
    readonly_fields = fields


class ReasonForm(forms.ModelForm):
    change_reason = forms.CharField(
        label=_("Reason for change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required for every change after creation."),
    )

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not (cleaned.get("change_reason") or "").strip():
            self.add_error("change_reason", _("A reason for the change is required."))
        return cleaned


class PatientRegisterForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = [
            "site",
            "protocol_version",
            "screening_number",
            "year_of_birth",
            "sex",
            "menopausal_status",
        ]


class PatientChangeForm(ReasonForm):
    class Meta:
        model = Patient
        fields = ["year_of_birth", "sex", "menopausal_status", "stratification"]


class EnrolForm(forms.Form):
    endocrine_drug = forms.ChoiceField(
        label=_("Aromatase inhibitor"), choices=AromataseInhibitor.choices
    )
    planned_c1d1 = forms.DateField(
        label=_("Planned C1D1"), widget=forms.DateInput(attrs={"type": "date"})
    )


class ConsentForm(forms.Form):
    form_version = forms.CharField(label=_("Consent form version"), max_length=32)
    consented_on = forms.DateField(
        label=_("Consent date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    taken_by = forms.ModelChoiceField(label=_("Taken by"), queryset=get_user_model().objects.none())


@admin.register(Patient)
class PatientAdmin(RoleScopedAdmin):
    list_display = [
        "__str__",
        "site",
        "screening_number",
        "status",
        "step",
        "enrolled_on",
        "protocol_version",
    ]
    list_filter = ["site", "status", "step", "protocol"]
    search_fields = ["trial_number", "screening_number"]
    list_select_related = ["site", "protocol", "protocol_version__protocol"]
    readonly_fields = ["trial_number", "status", "step", "enrolled_on", "protocol", "audit_links"]
    inlines = [EligibilityInline, ConsentInline, TreatmentLineInline]
    list_per_page = 50
    actions = ["enrol_selected"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The services own their (durable) transactions; the admin's outer atomic block
        # would nest them. Inlines here are read-only, so nothing else is written.
        return self._changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = PatientChangeForm if obj else PatientRegisterForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(PatientRegisterForm.Meta.fields)
        return [*self.readonly_fields, *PatientChangeForm.Meta.fields, "change_reason"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site":
            kwargs["queryset"] = scope_by_site(Site.objects.filter(active=True), request.user, "pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                changes = {
                    f: form.cleaned_data[f] for f in form.changed_data if f != "change_reason"
                }
                if changes:
                    svc.patient_update(
                        by=request.user,
                        patient=obj,
                        changes=changes,
                        reason=form.cleaned_data["change_reason"],
                    )
                return
            created = svc.patient_register(
                by=request.user,
                site=obj.site,
                protocol_version=obj.protocol_version,
                screening_number=obj.screening_number,
                year_of_birth=obj.year_of_birth,
                sex=obj.sex,
                menopausal_status=obj.menopausal_status,
            )
            obj.pk = created.pk
        except DomainError as exc:
            raise PermissionDenied(str(exc.message)) from exc

    @admin.display(description=_("audit trail"))
    def audit_links(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("admin:trial_patient_history", args=[obj.pk]),
            _("history"),
            reverse("patient-audit", args=[obj.pk]) + "?format=csv",
            _("full audit trail (CSV)"),
            reverse("admin:trial_patient_consent", args=[obj.pk]),
            _("record consent"),
            reverse("admin:trial_patient_enrol", args=[obj.pk]),
            _("enrol"),
        )

    def get_urls(self):
        return [
            path(
                "<int:patient_id>/enrol/",
                self.admin_site.admin_view(self.enrol_view),
                name="trial_patient_enrol",
            ),
            path(
                "<int:patient_id>/consent/",
                self.admin_site.admin_view(self.consent_view),
                name="trial_patient_consent",
            ),
            *super().get_urls(),
        ]

    def _patient(self, request, patient_id):
        return get_object_or_404(self.get_queryset(request), pk=patient_id)

    def _form_page(self, request, patient, form, title):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "patient": patient,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/trial/patient/action_form.html", context)

    def enrol_view(self, request, patient_id):
        patient = self._patient(request, patient_id)
        form = EnrolForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                svc.patient_enrol(
                    by=request.user,
                    patient=patient,
                    today=timezone.localdate(),
                    **form.cleaned_data,
                )
            except DomainError as exc:
                self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, _("Patient enrolled."), messages.SUCCESS)
                return redirect("admin:trial_patient_change", patient.pk)
        return self._form_page(request, patient, form, _("Enrol %(p)s") % {"p": patient})

    def consent_view(self, request, patient_id):
        patient = self._patient(request, patient_id)
        form = ConsentForm(request.POST or None)
        form.fields["taken_by"].queryset = get_user_model().objects.filter(
            staff__sites=patient.site, staff__role__in=SITE_ROLES
        )
        if request.method == "POST" and form.is_valid():
            try:
                svc.consent_record(
                    by=request.user,
                    patient=patient,
                    today=timezone.localdate(),
                    **form.cleaned_data,
                )
            except DomainError as exc:
                self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, _("Consent recorded."), messages.SUCCESS)
                return redirect("admin:trial_patient_change", patient.pk)
        return self._form_page(
            request, patient, form, _("Record consent for %(p)s") % {"p": patient}
        )

    @admin.action(description=_("Enrol the selected eligible patients (C1D1 in 7 days, letrozole)"))
    def enrol_selected(self, request, queryset):
        today = timezone.localdate()
        for patient in queryset:
            try:
                svc.patient_enrol(
                    by=request.user,
                    patient=patient,
                    endocrine_drug="letrozole",
                    planned_c1d1=today + timezone.timedelta(days=7),
                    today=today,
                )
            except DomainError as exc:
                self.message_user(request, f"{patient}: {exc.code}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{patient}: {_('enrolled')}", messages.SUCCESS)


@admin.register(Site)
class SiteAdmin(RoleScopedAdmin):
    site_field = "pk"
    write_roles = frozenset({Role.DATA_MANAGER})
    list_display = ["code", "name", "country", "active"]
    list_filter = ["country", "active"]
    search_fields = ["code", "name"]


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(admin.ModelAdmin):
    list_display = [
        "protocol",
        "number",
        "document_version",
        "source_name",
        "loaded_at",
        "content_sha256",
    ]
    list_select_related = ["protocol"]
    readonly_fields = [
        "protocol",
        "number",
        "document_version",
        "content_sha256",
        "document",
        "source_name",
        "loaded_at",
    ]

    def has_module_permission(self, request):
        return request.user.is_superuser or profile_of(request.user) is not None

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StaffProfile)
class StaffProfileAdmin(RoleScopedAdmin):
    site_field = None
    read_roles = frozenset({Role.DATA_MANAGER})
    write_roles = frozenset({Role.DATA_MANAGER})
    list_display = ["user", "role", "language"]
    list_filter = ["role", "sites"]
    list_select_related = ["user"]
    filter_horizontal = ["sites"]


@admin.register(AuditEvent)
class AuditEventAdmin(RoleScopedAdmin):
    site_field = "patient__site"
    write_roles = frozenset()
    list_display = ["at", "action", "actor", "patient", "object_type", "object_id"]
    list_filter = ["action"]
    list_select_related = ["actor", "patient"]
    readonly_fields = ["at", "action", "actor", "patient", "object_type", "object_id", "details"]


@admin.register(ApiToken)
class ApiTokenAdmin(RoleScopedAdmin):
    site_field = None
    read_roles = frozenset({Role.DATA_MANAGER})
    write_roles = frozenset()
    list_display = [
        "prefix",
        "user",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_select_related = ["user"]
    readonly_fields = list_display
    exclude = ["digest"]
