"""Input and output shapes of the randomization API (output built from sealed rows only, so a
replayed request gets the same body)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from randomization.models import Allocation, Design
from randomization.selectors.designs import DESIGN_FIELDS
from randomization.services.allocation import allocation_record
from randomization.services.designs import randomized_arms
from trial.api.serializers import TreatmentLineSerializer


class PasswordConfirmationSerializer(serializers.Serializer):
    password = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=4096,
        help_text=_("The investigator's own password, confirming the action."),
    )


class DesignVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    design_version = serializers.IntegerField()
    protocol = serializers.CharField()
    protocol_version = serializers.IntegerField()
    method = serializers.CharField()
    algorithm_version = serializers.CharField()


class AllocationSerializer(serializers.Serializer):
    """Everything that re-derives the allocation, shown once it is made (open-label)."""

    patient = serializers.IntegerField()
    trial_number = serializers.CharField()
    arm = serializers.CharField()
    arm_title = serializers.CharField()
    design = DesignVersionSerializer()
    stratum = serializers.CharField()
    sequence_scope = serializers.CharField()
    sequence_number = serializers.IntegerField()
    allocated_on = serializers.DateField()
    allocated_at = serializers.DateTimeField()
    allocated_by = serializers.CharField()
    idempotency_key = serializers.CharField()
    minimization = serializers.JSONField(allow_null=True)

    def to_representation(self, instance: Allocation):
        record = allocation_record(instance)
        design = instance.design
        arms = randomized_arms(design.protocol_version.document)
        title = next((a.get("title", "") for a in arms if a["code"] == instance.arm), "")
        data = {
            "patient": instance.patient_id,
            "trial_number": instance.patient.trial_number,
            "arm": instance.arm,
            "arm_title": title,
            "design": {
                "id": design.pk,
                "design_version": design.number,
                "protocol": design.protocol.code,
                "protocol_version": design.protocol_version.number,
                "method": design.method,
                "algorithm_version": design.algorithm_version,
            },
            "stratum": record["stratum"],
            "sequence_scope": record["sequence_scope"],
            "sequence_number": record["sequence_number"],
            "allocated_on": record["allocated_on"],
            "allocated_at": instance.created_at,
            "allocated_by": instance.created_by.get_username() if instance.created_by else "",
            "idempotency_key": record["idempotency_key"],
            "minimization": record["minimization"],
        }
        return super().to_representation(data)


class DesignSerializer(serializers.ModelSerializer):
    """A design for central readers: parameters, digests and progress, never the list."""

    protocol = serializers.CharField(source="protocol.code")
    protocol_version = serializers.IntegerField(source="protocol_version.number")
    created_by = serializers.CharField(source="created_by.username", default="")
    activated_by = serializers.CharField(source="activated_by.username", default=None)
    allocated = serializers.IntegerField(default=0)
    capacity = serializers.IntegerField(default=0)
    strata = serializers.IntegerField(default=0)

    class Meta:
        model = Design
        fields = ["id", *DESIGN_FIELDS, "allocated", "capacity", "strata"]


class ListEntrySerializer(serializers.Serializer):
    stratum = serializers.CharField()
    sequence_number = serializers.IntegerField()
    block_number = serializers.IntegerField()
    arm = serializers.CharField()
    block_size = serializers.IntegerField()


class DrawSerializer(serializers.Serializer):
    sequence_number = serializers.IntegerField()
    draw_53bit = serializers.IntegerField()
    draw = serializers.FloatField()


class DesignContentSerializer(serializers.Serializer):
    design = serializers.IntegerField()
    list_sha256 = serializers.CharField()
    entries = ListEntrySerializer(many=True)
    draws = DrawSerializer(many=True)


class BalanceCellSerializer(serializers.Serializer):
    scope = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    imbalance = serializers.FloatField(required=False)
    allocated = serializers.IntegerField(required=False)
    list_length = serializers.IntegerField(required=False)


class DesignBalanceSerializer(serializers.Serializer):
    design = serializers.DictField()
    overall = BalanceCellSerializer()
    strata = BalanceCellSerializer(many=True)
    margins = BalanceCellSerializer(many=True)


class CrossoverSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    arm = serializers.CharField(source="allocation.arm")
    progression_on = serializers.DateField(source="progression.assessed_on")
    decided_on = serializers.DateField()
    decided_by = serializers.CharField(source="created_by.username")
    treatment_line = TreatmentLineSerializer(source="line")
