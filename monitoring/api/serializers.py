"""Input and output of the ctDNA API. Results are read-only here: ingestion is a service."""

from __future__ import annotations

from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import CtdnaResult, CtdnaVariant, NextAction, Sample

NEXT_ACTION_DETAILS = {
    NextAction.IMAGING_REQUIRED: _(
        "Rising bESR1mut: the site is notified and must record an imaging assessment within the "
        "protocol's window; without progression the patient becomes eligible for Step 2 "
        "randomization, with progression they are not randomizable."
    ),
    NextAction.REDRAW_REQUESTED: _(
        "The sample failed: the site is asked for a new blood draw. The patient's ctDNA status "
        "is unchanged."
    ),
    NextAction.NONE: _("No action: monitoring continues on the protocol's schedule."),
}


class VariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = CtdnaVariant
        fields = [
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


class InterpretationSerializer(serializers.Serializer):
    patient_status = serializers.CharField(help_text="not_detected, detected_stable or rising")
    next_action = serializers.CharField(help_text="none, redraw_requested or imaging_required")
    next_action_detail = serializers.CharField()
    reason = serializers.CharField()
    compared_with_result_id = serializers.IntegerField(allow_null=True)
    no_longer_detected = serializers.ListField(child=serializers.CharField())
    off_panel = serializers.ListField(child=serializers.CharField())


class ResultSerializer(serializers.ModelSerializer):
    """A stored result with its interpretation (the 200/201 body of the lab API)."""

    lab = serializers.CharField(source="lab.code")
    sample_id = serializers.CharField(source="sample.sample_id")
    patient_id = serializers.CharField(source="patient.trial_number")
    failure_reason = serializers.SerializerMethodField()
    variants = VariantSerializer(many=True)
    interpretation = serializers.SerializerMethodField()
    amends = serializers.IntegerField(source="amends_id", allow_null=True)
    is_current = serializers.SerializerMethodField()
    received_at = serializers.DateTimeField(source="created_at")
    raw_sha256 = serializers.CharField(source="submission.body_sha256")
    submission_id = serializers.IntegerField()

    class Meta:
        model = CtdnaResult
        fields = [
            "id",
            "lab",
            "sample_id",
            "patient_id",
            "collected_on",
            "analysed_on",
            "assay",
            "status",
            "failure_reason",
            "variants",
            "interpretation",
            "turnaround_days",
            "version",
            "amends",
            "amendment_reason",
            "is_current",
            "received_at",
            "submission_id",
            "entry_indexes",
            "raw_sha256",
            "content_sha256",
        ]

    def get_failure_reason(self, obj) -> str | None:
        return obj.failure_reason or None

    def get_is_current(self, obj) -> bool:
        return bool(getattr(obj, "is_current", True))

    @staticmethod
    def _interpretation(obj) -> dict:
        variants = list(obj.variants.all())
        return {
            "patient_status": obj.patient_status,
            "next_action": obj.next_action,
            "next_action_detail": str(NEXT_ACTION_DETAILS[NextAction(obj.next_action)]),
            "reason": obj.interpretation_reason,
            "compared_with_result_id": obj.compared_with_id,
            "no_longer_detected": list(obj.no_longer_detected),
            "off_panel": [v.protein_change for v in variants if not v.in_panel],
        }

    def get_interpretation(self, obj) -> dict:
        return self._interpretation_serializer.to_representation(self._interpretation(obj))

    @cached_property
    def _interpretation_serializer(self) -> InterpretationSerializer:
        """One per result serializer: a list of results builds its fields once."""
        return InterpretationSerializer()


class SampleSerializer(serializers.ModelSerializer):
    patient_id = serializers.CharField(source="patient.trial_number")

    class Meta:
        model = Sample
        fields = [
            "id",
            "sample_id",
            "patient",
            "patient_id",
            "drawn_on",
            "first_result_on",
            "turnaround_days",
            "created_at",
        ]


class SampleCreateSerializer(serializers.Serializer):
    sample_id = serializers.CharField(max_length=64, help_text=_("The tube label."))
    drawn_on = serializers.DateField()


class AmendmentSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True)
    result = serializers.JSONField(help_text=_("The corrected result, in the result contract."))


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="201 stored, 200 identical replay, else an error")
    result = ResultSerializer(required=False)
    error = serializers.DictField(required=False)


class BatchResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    replayed = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BatchItemSerializer(many=True)
