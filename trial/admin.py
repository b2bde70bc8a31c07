"""The admin is where site staff work. Querysets are site-scoped through the same selectors as
the API; writes go through the same services; edits after creation require a reason; nothing
can be deleted; audit rows are read-only."""

from __future__ import annotations

import json
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from trial.exceptions import DomainError
from trial.models import (
    CENTRAL_ROLES,
    SITE_ROLES,
    AdverseEvent,
    ApiToken,
    AromataseInhibitor,
    AuditEvent,
    BloodCount,
    Consent,
    Cycle,
    DoseDecision,
    EligibilityAssessment,
    LocoregionalTreatment,
    Patient,
    ProtocolVersion,
    QolQuestionnaire,
    Role,
    ScheduleItem,
    Site,
    StaffProfile,
    SurvivalContact,
    TargetLesion,
    TreatmentLine,
    TumourAssessment,
)
from trial.selectors import clinical_history  # noqa: F401  (audit trail registration)
from trial.selectors.access import profile_of, scope_by_site
from trial.selectors.patients import PSEUDONYMISED_ROLES
from trial.selectors.schedule import (
    annotate_live,
    due_and_overdue,
    patient_schedule,
    recently_missed,
)
from trial.services import adverse_events as ae_svc
from trial.services import patients as svc


class RoleScopedMixin:
    """Readers see their sites' rows; site staff write; nobody deletes."""

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
        qs = super().get_queryset(request)  # type: ignore[misc]
        if self.site_field is None or request.user.is_superuser:
            return qs
        return scope_by_site(qs, request.user, self.site_field)

    def get_actions(self, request):
        actions = super().get_actions(request)  # type: ignore[misc]
        actions.pop("delete_selected", None)
        return actions


class RoleScopedAdmin(RoleScopedMixin, SimpleHistoryAdmin):
    """For history-tracked models: the history list is scoped like the change list, and the
    per-version form (a revert page, which would also list every site's objects in its
    choices) is closed: edits go through the services, with a reason."""

    def history_view(self, request, object_id, extra_context=None):
        # simple-history falls back to the history rows when the object is outside
        # get_queryset(); scope first so another site's history is "not found".
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        raise PermissionDenied


class RoleScopedPlainAdmin(RoleScopedMixin, admin.ModelAdmin):
    """For models without simple-history (append-only events, tokens)."""


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

    def clean_stratification(self):
        value = self.cleaned_data.get("stratification")
        try:
            svc.stratification_check(value)
        except DomainError as exc:
            raise forms.ValidationError(str(exc.message)) from exc
        return value


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
            '<a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a>'
            ' · <a href="{}">{}</a>',
            reverse("admin:trial_scheduleitem_calendar", args=[obj.pk]),
            _("calendar"),
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
        # The enrolment and consent pages are writes: only site staff of the patient's site.
        if self._role(request) not in SITE_ROLES:
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=patient_id)

    def _pseudonymised(self, request) -> bool:
        return self._role(request) in PSEUDONYMISED_ROLES

    def get_list_display(self, request):
        fields = list(super().get_list_display(request))
        if self._pseudonymised(request):
            fields.remove("screening_number")
        return fields

    def get_search_fields(self, request):
        # The screening number links the trial number to the site's identity file.
        if self._pseudonymised(request):
            return ["trial_number"]
        return super().get_search_fields(request)

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
        "document_concealed",
        "source_name",
        "loaded_at",
    ]
    exclude = ["document"]

    def has_module_permission(self, request):
        return request.user.is_superuser or profile_of(request.user) is not None

    @staticmethod
    def _render(document):
        return format_html(
            "<pre>{}</pre>", json.dumps(document, indent=2, ensure_ascii=False, default=str)
        )

    @admin.display(description=_("protocol document"))
    def document_full(self, obj):
        return self._render(obj.document)

    @admin.display(description=_("protocol document"))
    def document_concealed(self, obj):
        """The randomization design (block sizes, minimization parameters) is concealed from
        everyone but central roles."""
        document = dict(obj.document)
        if "randomization" in document:
            document["randomization"] = str(_("concealed"))
        return self._render(document)

    def get_readonly_fields(self, request, obj=None):
        profile = profile_of(request.user)
        central = request.user.is_superuser or (profile and profile.role in CENTRAL_ROLES)
        if not central:
            return self.readonly_fields
        return [("document_full" if f == "document_concealed" else f) for f in self.readonly_fields]

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
class AuditEventAdmin(RoleScopedPlainAdmin):
    site_field = "patient__site"
    write_roles = frozenset()
    list_display = ["at", "action", "actor", "patient", "object_type", "object_id"]
    list_filter = ["action"]
    list_select_related = ["actor", "patient"]
    readonly_fields = ["at", "action", "actor", "patient", "object_type", "object_id", "details"]


@admin.register(ApiToken)
class ApiTokenAdmin(RoleScopedPlainAdmin):
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
    actions = ["revoke_selected"]

    def has_change_permission(self, request, obj=None):
        # The change list must allow actions; the fields themselves stay read-only.
        return self._role(request) == Role.DATA_MANAGER or request.user.is_superuser

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke_selected(self, request, queryset):
        from trial.exceptions import InvalidState
        from trial.services.accounts import api_token_revoke

        revoked = 0
        for token in queryset.filter(revoked_at=None):
            try:
                api_token_revoke(token=token, by=request.user)
            except InvalidState:
                continue
            revoked += 1
        self.message_user(request, _("%(n)d token(s) revoked.") % {"n": revoked}, messages.SUCCESS)


# --- Step 1 follow-up -----------------------------------------------------------------------
# Clinical follow-up records are written through the API services (signatures, grading and
# the schedule need them); in the admin they are read-only, with their history. The SAE clock
# can be stopped from the adverse event list with the same service as the API.


class ClinicalRecordAdmin(RoleScopedAdmin):
    """View-only: site staff see their sites, central roles all sites; nobody edits here."""

    write_roles = frozenset()
    list_per_page = 100


class EstimatedCountPaginator(Paginator):
    """The exact count, except for an unfiltered list of a table PostgreSQL estimates at
    ``ESTIMATE_FROM`` rows or more: there the planner's estimate (``pg_class.reltuples``, kept
    by autovacuum), since counting ~2M rows took longer than the rest of the page. A site's
    list or a filtered one is always counted exactly."""

    ESTIMATE_FROM = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] >= self.ESTIMATE_FROM:
                return int(row[0])
        return super().count


class LargeTableMixin:
    """For lists of 100k+ rows: the estimated unfiltered count, and no second count of every
    row (the unfiltered total) beside a filtered one."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(ScheduleItem)
class ScheduleItemAdmin(LargeTableMixin, ClinicalRecordAdmin):
    site_field = "patient__site"
    list_display = [
        "calendar_link",
        "key",
        "kind",
        "planned_on",
        "window_opens",
        "window_closes",
        "status",
        "held",
        "done_on",
        "reminded_due_at",
        "reminded_overdue_at",
    ]
    list_filter = ["status", "kind", "held", "patient__site"]
    list_select_related = ["patient__site"]
    search_fields = ["patient__trial_number", "key"]
    readonly_fields = [
        "patient",
        "line",
        "key",
        "kind",
        "cycle",
        "cycle_day",
        "anchor",
        "planned_on",
        "window_opens",
        "window_closes",
        "remind_from",
        "missed_after",
        "status",
        "held",
        "done_on",
        "done_ref",
        "reminded_due_at",
        "reminded_overdue_at",
    ]

    @admin.display(description=_("patient"), ordering="patient__trial_number")
    def calendar_link(self, obj):
        url = reverse("admin:trial_scheduleitem_calendar", args=[obj.patient_id])
        return format_html('<a href="{}">{}</a>', url, obj.patient)

    def get_urls(self):
        return [
            path(
                "due/",
                self.admin_site.admin_view(self.due_view),
                name="trial_scheduleitem_due",
            ),
            path(
                "calendar/<int:patient_id>/",
                self.admin_site.admin_view(self.calendar_view),
                name="trial_scheduleitem_calendar",
            ),
            *super().get_urls(),
        ]

    def _page(self, request, template, context):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, **context}
        return TemplateResponse(request, f"admin/trial/scheduleitem/{template}", context)

    def calendar_view(self, request, patient_id):
        patients = Patient.objects.select_related("site")
        if not request.user.is_superuser:
            patients = scope_by_site(patients, request.user)
        patient = get_object_or_404(patients, pk=patient_id)
        groups = patient_schedule(patient=patient, today=timezone.localdate())
        titles = {
            "upcoming": _("Upcoming"),
            "due": _("Due"),
            "overdue": _("Overdue"),
            "done": _("Done"),
            "missed": _("Missed"),
        }
        context = {
            "title": _("Calendar of %(p)s") % {"p": patient},
            "patient": patient,
            "groups": [{"title": titles[name], "items": items} for name, items in groups.items()],
        }
        return self._page(request, "calendar.html", context)

    def due_view(self, request):
        today = timezone.localdate()
        user = request.user
        by_site: dict = defaultdict(lambda: {"due": [], "overdue": [], "missed": []})
        sites = {}
        for item in annotate_live(due_and_overdue(user=user, today=today), today):
            sites[item.patient.site_id] = item.patient.site
            by_site[item.patient.site_id][item.live_status].append(item)
        for item in recently_missed(user=user, today=today):
            sites[item.patient.site_id] = item.patient.site
            by_site[item.patient.site_id]["missed"].append(item)
        titles = {
            "due": _("Due"),
            "overdue": _("Overdue"),
            "missed": _("Missed in the last 28 days"),
        }
        rows = [
            {
                "code": site.code,
                "name": site.name,
                "groups": [
                    {"title": titles[name], "items": items}
                    for name, items in by_site[site_id].items()
                ],
            }
            for site_id, site in sorted(sites.items(), key=lambda pair: pair[1].code)
        ]
        context = {"title": _("Due and overdue by site"), "today": today, "sites": rows}
        return self._page(request, "due.html", context)


class SaeClockFilter(admin.SimpleListFilter):
    title = _("SAE report")
    parameter_name = "sae"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("Overdue")),
            ("pending", _("Pending, in time")),
            ("reported", _("Reported")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        open_sae = queryset.filter(serious=True, sae_reported_at__isnull=True)
        if self.value() == "overdue":
            return open_sae.filter(sae_report_due_at__lt=now)
        if self.value() == "pending":
            return open_sae.filter(sae_report_due_at__gte=now)
        if self.value() == "reported":
            return queryset.filter(serious=True, sae_reported_at__isnull=False)
        return queryset


@admin.register(AdverseEvent)
class AdverseEventAdmin(ClinicalRecordAdmin):
    site_field = "patient__site"
    list_display = [
        "patient",
        "term",
        "grade",
        "serious",
        "onset_on",
        "resolved_on",
        "attribution",
        "sae_clock",
    ]
    list_filter = [SaeClockFilter, "serious", "grade", "patient__site"]
    list_select_related = ["patient__site"]
    search_fields = ["patient__trial_number", "term"]
    readonly_fields = [
        "patient",
        "line",
        "term",
        "grade",
        "ctcae_version",
        "onset_on",
        "resolved_on",
        "attribution",
        "serious",
        "description",
        "sae_clock_started_at",
        "sae_report_due_at",
        "sae_reported_at",
    ]
    actions = ["mark_sae_reported"]

    @admin.display(description=_("SAE clock"))
    def sae_clock(self, obj):
        if not obj.serious:
            return "-"
        if obj.sae_reported_at is not None:
            at = timezone.localtime(obj.sae_reported_at).strftime("%Y-%m-%d %H:%M")
            return _("reported %(at)s") % {"at": at}
        remaining = obj.sae_report_due_at - timezone.now()
        hours = abs(remaining.total_seconds()) / 3600
        if remaining.total_seconds() < 0:
            return format_html(
                '<strong style="color:#ba2121">{}</strong>',
                _("OVERDUE by %(h).1f h") % {"h": hours},
            )
        return _("%(h).1f h left") % {"h": hours}

    @admin.action(description=_("Mark the selected SAEs as reported to the sponsor"))
    def mark_sae_reported(self, request, queryset):
        for event in queryset.select_related("patient__site"):
            try:
                ae_svc.adverse_event_sae_report(event=event, by=request.user)
            except DomainError as exc:
                self.message_user(request, f"{event}: {exc.code}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{event}: {_('reported')}", messages.SUCCESS)


@admin.register(Cycle)
class CycleAdmin(ClinicalRecordAdmin):
    site_field = "line__patient__site"
    list_display = [
        "line",
        "number",
        "status",
        "planned_d1",
        "started_on",
        "palbociclib_dose_mg",
        "hold_opened_on",
        "hold_closed_on",
    ]
    list_filter = ["status", "line__patient__site"]
    list_select_related = ["line__patient__site"]
    search_fields = ["line__patient__trial_number"]


@admin.register(DoseDecision)
class DoseDecisionAdmin(ClinicalRecordAdmin):
    site_field = "line__patient__site"
    list_display = [
        "line",
        "action",
        "status",
        "current_dose_mg",
        "proposed_next_dose_mg",
        "confirmed_dose_mg",
        "applies_to_cycle",
        "signed_by",
        "signed_at",
    ]
    list_filter = ["status", "action", "line__patient__site"]
    list_select_related = ["line__patient__site", "signed_by"]
    search_fields = ["line__patient__trial_number"]


@admin.register(BloodCount)
class BloodCountAdmin(ClinicalRecordAdmin):
    site_field = "patient__site"
    list_display = [
        "patient",
        "cycle_number",
        "cycle_day",
        "drawn_on",
        "anc_g_per_l",
        "platelets_g_per_l",
        "haemoglobin_g_per_l",
        "worst_grade",
        "haem_max_grade",
        "proposed_action",
    ]
    list_filter = ["haem_max_grade", "ctcae_version", "line__step", "patient__site"]
    list_select_related = ["patient__site"]
    search_fields = ["patient__trial_number"]


class TargetLesionInline(ReadOnlyInline):
    model = TargetLesion
    fields = ["lesion_number", "location", "is_lymph_node", "diameter_mm"]
    readonly_fields = fields


@admin.register(TumourAssessment)
class TumourAssessmentAdmin(ClinicalRecordAdmin):
    site_field = "patient__site"
    list_display = [
        "patient",
        "assessed_on",
        "modality",
        "is_baseline",
        "sum_mm",
        "nadir_sum_mm",
        "overall_response",
    ]
    list_filter = ["overall_response", "modality", "patient__site"]
    list_select_related = ["patient__site"]
    search_fields = ["patient__trial_number"]
    inlines = [TargetLesionInline]


@admin.register(QolQuestionnaire)
class QolQuestionnaireAdmin(ClinicalRecordAdmin):
    site_field = "patient__site"
    list_display = ["patient", "completed_on", "ql2", "pf2", "fa", "summary"]
    list_filter = ["patient__site"]
    list_select_related = ["patient__site"]
    search_fields = ["patient__trial_number"]


@admin.register(LocoregionalTreatment)
class LocoregionalTreatmentAdmin(ClinicalRecordAdmin):
    site_field = "patient__site"
    list_display = [
        "patient",
        "modality",
        "surgery_type",
        "surgery_on",
        "margins",
        "pathological_response",
        "radiotherapy_start_on",
    ]
    list_filter = ["modality", "pathological_response", "patient__site"]
    list_select_related = ["patient__site"]


@admin.register(SurvivalContact)
class SurvivalContactAdmin(ClinicalRecordAdmin):
    site_field = "patient__site"
    list_display = ["patient", "contacted_on", "method", "vital_status", "death_on"]
    list_filter = ["vital_status", "patient__site"]
    list_select_related = ["patient__site"]
