"""Serializers of Step 1 follow-up: inputs are plain values for one service; outputs are
read-only renderings of the records."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trial.models import (
    QLQ_C30_SCALE_FIELDS,
    AdverseEvent,
    Attribution,
    BloodCount,
    ContactMethod,
    Cycle,
    DoseDecision,
    LocoregionalTreatment,
    LrtModality,
    Margins,
    Modality,
    NonTarget,
    OverallResponse,
    PathologicalResponse,
    QolQuestionnaire,
    ScheduleItem,
    SurgeryType,
    SurvivalContact,
    TargetLesion,
    TumourAssessment,
    VitalStatus,
)


def _inline_choice(choices, **kwargs) -> serializers.ChoiceField:
    """A choice field documented with an inline enum: a choice set used by two fields of one
    serializer would otherwise get two component names."""

    @extend_schema_field({"type": "string", "enum": [*(value for value, _ in choices), ""]})
    class InlineChoiceField(serializers.ChoiceField):
        pass

    return InlineChoiceField(choices=choices, **kwargs)


# --- inputs -----------------------------------------------------------------------------------


class _ValueWithUnit(serializers.Serializer):
    value = serializers.DecimalField(max_digits=12, decimal_places=4)
    unit = serializers.CharField(max_length=16)


class _BloodValues(serializers.Serializer):
    anc = _ValueWithUnit(required=False)
    wbc = _ValueWithUnit(required=False)
    platelets = _ValueWithUnit(required=False)
    haemoglobin = _ValueWithUnit(required=False)
    lymphocytes = _ValueWithUnit(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(_("Give at least one value."))
        return attrs


class BloodCountRecordSerializer(serializers.Serializer):
    drawn_on = serializers.DateField()
    cycle = serializers.IntegerField(min_value=1, max_value=999)
    day = serializers.IntegerField(min_value=1, max_value=999)
    values = _BloodValues(
        help_text=_('Each as {"value": 1.2, "unit": "G/L"}; units G/L, 10^9/L, /mm3, /uL, g/dL…')
    )
    lln = _BloodValues(required=False, help_text=_("The lab's lower limits of normal."))
    temperature_c = serializers.DecimalField(
        max_digits=4, decimal_places=1, required=False, allow_null=True
    )
    infection = serializers.BooleanField(default=False)
    lymphopenia_clinical_event = serializers.BooleanField(default=False)


def _plain_values(data):
    return {code: {"value": entry["value"], "unit": entry["unit"]} for code, entry in data.items()}


class DoseDecisionConfirmSerializer(serializers.Serializer):
    password = serializers.CharField(
        trim_whitespace=False, help_text=_("Re-enter your password to sign.")
    )
    dose_mg = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class CycleStartSerializer(serializers.Serializer):
    started_on = serializers.DateField()


class CycleHoldSerializer(serializers.Serializer):
    on = serializers.DateField()
    reason = serializers.CharField()


class CycleDelaySerializer(serializers.Serializer):
    planned_d1 = serializers.DateField()
    reason = serializers.CharField()


class InjectionSerializer(serializers.Serializer):
    given_on = serializers.DateField()


class AdverseEventRecordSerializer(serializers.Serializer):
    term = serializers.CharField(max_length=120)
    grade = serializers.IntegerField(min_value=1, max_value=5)
    onset_on = serializers.DateField()
    resolved_on = serializers.DateField(required=False, allow_null=True)
    attribution = serializers.ChoiceField(choices=Attribution.choices)
    serious = serializers.BooleanField()
    description = serializers.CharField(required=False, allow_blank=True, default="")


class AdverseEventResolveSerializer(serializers.Serializer):
    resolved_on = serializers.DateField()
    reason = serializers.CharField()


class AdverseEventRegradeSerializer(serializers.Serializer):
    grade = serializers.IntegerField(min_value=1, max_value=5)
    reason = serializers.CharField()


class _LesionInput(serializers.Serializer):
    lesion_number = serializers.IntegerField(min_value=1, max_value=99)
    location = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    is_lymph_node = serializers.BooleanField(default=False)
    diameter_mm = serializers.DecimalField(
        max_digits=6, decimal_places=1, allow_null=True, required=False, default=None
    )


class TumourAssessmentRecordSerializer(serializers.Serializer):
    assessed_on = serializers.DateField()
    modality = serializers.ChoiceField(choices=Modality.choices)
    target_lesions = _LesionInput(many=True, required=False, default=list)
    new_lesions = serializers.BooleanField(default=False)
    non_target = serializers.ChoiceField(choices=NonTarget.choices)


class QolSubmitSerializer(serializers.Serializer):
    completed_on = serializers.DateField()
    responses = serializers.DictField(
        child=serializers.IntegerField(allow_null=True),
        help_text=_('Answers by item number, e.g. {"1": 2, "29": 6}; null or absent = missing.'),
    )


class LocoregionalRecordSerializer(serializers.Serializer):
    treatment_modality = serializers.ChoiceField(choices=LrtModality.choices)
    planned_surgery_type = _inline_choice(SurgeryType.choices, required=False, allow_blank=True)
    surgery_type = serializers.ChoiceField(
        choices=SurgeryType.choices, required=False, allow_blank=True
    )
    surgery_on = serializers.DateField(required=False, allow_null=True)
    margins = serializers.ChoiceField(choices=Margins.choices, required=False, allow_blank=True)
    pathological_response = serializers.ChoiceField(
        choices=PathologicalResponse.choices, required=False, allow_blank=True
    )
    residual_tumour_size_mm = serializers.DecimalField(
        max_digits=6, decimal_places=1, min_value=0, required=False, allow_null=True
    )
    residual_cellularity_pct = serializers.IntegerField(
        min_value=0, max_value=100, required=False, allow_null=True
    )
    radiotherapy_start_on = serializers.DateField(required=False, allow_null=True)
    radiotherapy_end_on = serializers.DateField(required=False, allow_null=True)
    radiotherapy_dose_gy = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=0, required=False, allow_null=True
    )


class SurvivalContactRecordSerializer(serializers.Serializer):
    contacted_on = serializers.DateField()
    contact_method = serializers.ChoiceField(choices=ContactMethod.choices)
    vital_status = serializers.ChoiceField(choices=VitalStatus.choices)
    death_on = serializers.DateField(required=False, allow_null=True)
    last_known_alive_on = serializers.DateField(required=False, allow_null=True)


# --- outputs ----------------------------------------------------------------------------------


class ScheduleItemSerializer(serializers.ModelSerializer):
    status = serializers.CharField(source="live_status", read_only=True)

    class Meta:
        model = ScheduleItem
        fields = [
            "id",
            "key",
            "kind",
            "cycle",
            "cycle_day",
            "planned_on",
            "window_opens",
            "window_closes",
            "status",
            "held",
            "done_on",
            "done_ref",
        ]


class DueItemSerializer(ScheduleItemSerializer):
    patient = serializers.CharField(source="patient.__str__", read_only=True)
    patient_id = serializers.IntegerField(read_only=True)
    site = serializers.CharField(source="patient.site.code", read_only=True)

    class Meta(ScheduleItemSerializer.Meta):
        fields = ["site", "patient_id", "patient", *ScheduleItemSerializer.Meta.fields]


class PatientScheduleSerializer(serializers.Serializer):
    upcoming = ScheduleItemSerializer(many=True)
    due = ScheduleItemSerializer(many=True)
    overdue = ScheduleItemSerializer(many=True)
    done = ScheduleItemSerializer(many=True)
    missed = ScheduleItemSerializer(many=True)


class CycleSerializer(serializers.ModelSerializer):
    line_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Cycle
        fields = [
            "id",
            "line_id",
            "number",
            "status",
            "planned_d1",
            "started_on",
            "palbociclib_dose_mg",
            "dose_decision",
            "dose_change_reason",
            "delay_reason",
            "hold_opened_on",
            "hold_reason",
            "hold_closed_on",
            "hold_close_reason",
        ]


class DoseDecisionSerializer(serializers.ModelSerializer):
    signed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = DoseDecision
        fields = [
            "id",
            "blood_count",
            "adverse_event",
            "status",
            "action",
            "reason_code",
            "reason",
            "source",
            "current_dose_mg",
            "proposed_next_dose_mg",
            "resume_max_grade",
            "other_decisions",
            "confirmed_dose_mg",
            "applies_to_cycle",
            "signed_by",
            "signed_at",
            "signature_meaning",
            "signature_comment",
            "created_at",
        ]


class BloodCountSerializer(serializers.ModelSerializer):
    class Meta:
        model = BloodCount
        fields = [
            "id",
            "patient",
            "line",
            "cycle_number",
            "cycle_day",
            "drawn_on",
            "anc_g_per_l",
            "wbc_g_per_l",
            "platelets_g_per_l",
            "haemoglobin_g_per_l",
            "lymphocytes_g_per_l",
            "entered",
            "lln",
            "temperature_c",
            "fever",
            "infection",
            "lymphopenia_clinical_event",
            "ctcae_version",
            "grades",
            "worst_grade",
            "worst_term",
            "haem_max_grade",
            "proposed_action",
            "proposed_reason",
        ]


class ProposalSerializer(serializers.Serializer):
    action = serializers.CharField()
    current_dose_mg = serializers.IntegerField()
    next_dose_mg = serializers.IntegerField(allow_null=True)
    resume_max_grade = serializers.IntegerField(allow_null=True)
    reason_code = serializers.CharField()
    reason = serializers.CharField()
    source = serializers.CharField()


class BloodCountResultSerializer(serializers.Serializer):
    blood_count = BloodCountSerializer()
    proposal = ProposalSerializer(allow_null=True)
    dose_decision = DoseDecisionSerializer(source="decision", allow_null=True)


class AdverseEventSerializer(serializers.ModelSerializer):
    sae_overdue = serializers.SerializerMethodField()

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
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
            "sae_overdue",
        ]

    def get_sae_overdue(self, obj) -> bool:
        from django.utils import timezone

        return bool(
            obj.serious and obj.sae_reported_at is None and obj.sae_report_due_at < timezone.now()
        )


class TargetLesionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TargetLesion
        fields = ["lesion_number", "location", "is_lymph_node", "diameter_mm"]


class TumourAssessmentSerializer(serializers.ModelSerializer):
    target_lesions = TargetLesionSerializer(many=True, read_only=True)
    target_response = _inline_choice(OverallResponse.choices, read_only=True)

    class Meta:
        model = TumourAssessment
        fields = [
            "id",
            "line",
            "assessed_on",
            "modality",
            "is_baseline",
            "target_lesions",
            "new_lesions",
            "non_target",
            "sum_mm",
            "baseline_sum_mm",
            "nadir_sum_mm",
            "change_from_baseline_pct",
            "change_from_nadir_pct",
            "target_response",
            "overall_response",
            "reason_code",
            "reason",
        ]


class QolQuestionnaireSerializer(serializers.ModelSerializer):
    class Meta:
        model = QolQuestionnaire
        fields = ["id", "instrument", "completed_on", "responses", *QLQ_C30_SCALE_FIELDS]


class LocoregionalTreatmentSerializer(serializers.ModelSerializer):
    converted_to_conservative = serializers.BooleanField(read_only=True, allow_null=True)
    treatment_modality = serializers.ChoiceField(
        source="modality", choices=LrtModality.choices, read_only=True
    )
    planned_surgery_type = _inline_choice(SurgeryType.choices, read_only=True)

    class Meta:
        model = LocoregionalTreatment
        fields = [
            "id",
            "treatment_modality",
            "planned_surgery_type",
            "surgery_type",
            "surgery_on",
            "margins",
            "pathological_response",
            "residual_tumour_size_mm",
            "residual_cellularity_pct",
            "radiotherapy_start_on",
            "radiotherapy_end_on",
            "radiotherapy_dose_gy",
            "converted_to_conservative",
        ]


class SurvivalContactSerializer(serializers.ModelSerializer):
    contact_method = serializers.ChoiceField(
        source="method", choices=ContactMethod.choices, read_only=True
    )

    class Meta:
        model = SurvivalContact
        fields = [
            "id",
            "contacted_on",
            "contact_method",
            "vital_status",
            "death_on",
            "last_known_alive_on",
        ]


class ToxicitySerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.__str__", read_only=True)
    site = serializers.CharField(source="patient.site.code", read_only=True)
    step = serializers.CharField(source="line.step", read_only=True)

    class Meta:
        model = BloodCount
        fields = [
            "id",
            "site",
            "patient",
            "step",
            "cycle_number",
            "cycle_day",
            "drawn_on",
            "ctcae_version",
            "anc_grade",
            "wbc_grade",
            "platelets_grade",
            "haemoglobin_grade",
            "lymphocytes_grade",
            "haem_max_grade",
        ]


def blood_values(data):
    return _plain_values(data)


def paginated(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The documented shape of a LimitOffsetPagination page of ``item_serializer``."""
    name = item_serializer.__name__.removesuffix("Serializer")
    return type(
        f"Paginated{name}ListSerializer",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item_serializer(many=True),
        },
    )


PaginatedDueItems = paginated(DueItemSerializer)
PaginatedBloodCounts = paginated(BloodCountSerializer)
PaginatedAdverseEvents = paginated(AdverseEventSerializer)
PaginatedToxicities = paginated(ToxicitySerializer)
