from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from trial.models import (
    AromataseInhibitor,
    Consent,
    EligibilityAssessment,
    MenopausalStatus,
    Patient,
    Sex,
    Site,
    TreatmentLine,
)
from trial.selectors.access import role_of
from trial.selectors.patients import PSEUDONYMISED_ROLES


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name", "country", "active"]


class TreatmentLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = TreatmentLine
        fields = [
            "id",
            "step",
            "regimen",
            "endocrine_drug",
            "palbociclib_dose_mg",
            "planned_c1d1",
            "started_on",
            "ended_on",
            "end_reason",
        ]


class PatientSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    protocol = serializers.SlugRelatedField(slug_field="code", read_only=True)
    protocol_version = serializers.IntegerField(source="protocol_version.number", read_only=True)
    screening_number = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text=_("Null for pseudonymised readers (sponsor, statistician)."),
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "site",
            "protocol",
            "protocol_version",
            "screening_number",
            "trial_number",
            "status",
            "step",
            "year_of_birth",
            "sex",
            "menopausal_status",
            "enrolled_on",
            "stratification",
            "created_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is not None and role_of(request.user) in PSEUDONYMISED_ROLES:
            data["screening_number"] = None  # site-held key: never leaves the site
        return data


class PatientRegisterSerializer(serializers.Serializer):
    site = serializers.SlugField(help_text=_("Site code"))
    protocol = serializers.SlugField(help_text=_("Trial code, e.g. PADA1"))
    screening_number = serializers.RegexField(r"^[A-Za-z0-9-]{1,32}$")
    year_of_birth = serializers.IntegerField(min_value=1900, max_value=2100)
    sex = serializers.ChoiceField(choices=Sex.choices)
    menopausal_status = serializers.ChoiceField(choices=MenopausalStatus.choices)


class PatientUpdateSerializer(serializers.Serializer):
    year_of_birth = serializers.IntegerField(min_value=1900, max_value=2100, required=False)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    menopausal_status = serializers.ChoiceField(choices=MenopausalStatus.choices, required=False)
    stratification = serializers.DictField(child=serializers.CharField(), required=False)
    reason = serializers.CharField(help_text=_("Why the data changes (required)."))


class ScreeningSubmitSerializer(serializers.Serializer):
    screening_date = serializers.DateField()
    values = serializers.DictField(
        help_text=_(
            "Screening values keyed by the protocol's fields: numeric quantities as "
            '{"value": 12.1, "unit": "g/dL"}, attestations as true/false, choices as strings, '
            "dates as YYYY-MM-DD."
        )
    )


class EligibilityAssessmentSerializer(serializers.ModelSerializer):
    protocol_version = serializers.IntegerField(source="protocol_version.number", read_only=True)

    class Meta:
        model = EligibilityAssessment
        fields = [
            "id",
            "protocol_version",
            "assessed_on",
            "eligible",
            "results",
            "failures",
            "normalised",
            "created_at",
        ]


class ConsentRecordSerializer(serializers.Serializer):
    form_version = serializers.CharField(max_length=32)
    consented_on = serializers.DateField()
    taken_by = serializers.CharField(help_text=_("Username of the staff member who took it."))


class ConsentSerializer(serializers.ModelSerializer):
    taken_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    protocol_version = serializers.IntegerField(source="protocol_version.number", read_only=True)

    class Meta:
        model = Consent
        fields = [
            "id",
            "protocol_version",
            "form_version",
            "consented_on",
            "taken_by",
            "withdrawn_on",
            "withdrawal_reason",
        ]


class ConsentWithdrawSerializer(serializers.Serializer):
    withdrawn_on = serializers.DateField()
    reason = serializers.CharField()


class EnrolSerializer(serializers.Serializer):
    endocrine_drug = serializers.ChoiceField(choices=AromataseInhibitor.choices)
    planned_c1d1 = serializers.DateField()


class ScreenFailSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class EnrolmentSerializer(serializers.Serializer):
    patient = PatientSerializer()
    treatment_line = TreatmentLineSerializer()


class AuditEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True)
    record = serializers.CharField()
    record_id = serializers.CharField()
    action = serializers.CharField()
    changes = serializers.DictField()
    reason = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()
