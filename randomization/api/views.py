"""Randomization API: allocate, cross over, read an allocation, balance, designs and lists.

Concealment: the list, block sizes and minimization draws are served only to central readers
(statistician, data manager), and every such view is logged; site staff see an allocation
only once it is made.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from randomization.models import Method
from randomization.rules.blocks import BlockEntry, BlockList, canonical_csv
from randomization.selectors.allocations import allocation_for_patient
from randomization.selectors.balance import balance_report
from randomization.selectors.designs import design_draws, design_entries, design_get, design_list
from randomization.services.allocation import patient_randomize
from randomization.services.crossover import patient_crossover
from randomization.services.designs import canonical_draws_csv
from randomization.services.lifecycle import design_list_open
from trial.api.base import TrialApiView
from trial.api.pagination import TrialPagination
from trial.api.permissions import IsStaffReader
from trial.api.serializers import ErrorSerializer
from trial.selectors.patients import patient_get

from . import serializers as s

ERRORS = {code: ErrorSerializer for code in (400, 403, 404, 409, 422)}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=True,
    description="Client-chosen key (1-100 of A-Z a-z 0-9 _ . : -); a retry with the same key "
    "for the same patient returns the same reply.",
)


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PatientRandomizeApi(TrialApiView):
    """Default deny (an active staff profile); the service decides the rest, so that a
    coordinator gets ``role_not_allowed`` and another site's patient ``not_found``."""

    @extend_schema(
        operation_id="patients_randomize",
        request=s.PasswordConfirmationSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.AllocationSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.PasswordConfirmationSerializer, request.data)
        outcome = patient_randomize(
            patient=patient,
            by=request.user,
            password=data["password"],
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            today=timezone.localdate(),
        )
        return Response(s.AllocationSerializer(outcome.allocation).data)


class PatientCrossoverApi(TrialApiView):
    """Step 3 for an Arm A patient after RECIST progression; the investigator confirms with
    their password. Role and site are checked by the service (as for randomization)."""

    @extend_schema(
        operation_id="patients_crossover",
        request=s.PasswordConfirmationSerializer,
        responses={201: s.CrossoverSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.PasswordConfirmationSerializer, request.data)
        crossover = patient_crossover(
            patient=patient, by=request.user, password=data["password"], today=timezone.localdate()
        )
        return Response(s.CrossoverSerializer(crossover).data, status=status.HTTP_201_CREATED)


class PatientAllocationApi(TrialApiView):
    """The site's own patient once randomized, or a data-monitoring role; the sponsor monitor
    gets ``role_not_allowed`` (arm counts only, in the balance report)."""

    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="patients_allocation", responses={200: s.AllocationSerializer, **ERRORS}
    )
    def get(self, request, patient_id: int):
        allocation = allocation_for_patient(user=request.user, patient_id=patient_id)
        return Response(s.AllocationSerializer(allocation).data)


class RandomizationBalanceApi(TrialApiView):
    @extend_schema(
        operation_id="randomization_balance",
        parameters=[OpenApiParameter("protocol", str)],
        responses={200: s.DesignBalanceSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        report = balance_report(
            user=request.user, protocol_code=request.query_params.get("protocol") or None
        )
        return Response([section.as_dict() for section in report])


class DesignListApi(TrialApiView):
    # Also tells the OpenAPI generator that GET answers a page with limit and offset.
    pagination_class = TrialPagination

    @extend_schema(
        operation_id="randomization_designs_list",
        responses={200: s.DesignSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(design_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(s.DesignSerializer(page, many=True).data)


class DesignDetailApi(TrialApiView):
    @extend_schema(
        operation_id="randomization_designs_retrieve",
        responses={200: s.DesignSerializer, **ERRORS},
    )
    def get(self, request, design_id: int):
        return Response(s.DesignSerializer(design_get(user=request.user, design_id=design_id)).data)


class DesignContentApi(TrialApiView):
    """The sealed list (or minimization draws) for central readers; every view is logged.
    ``?format=csv`` returns the canonical file whose SHA-256 is the design's ``list_sha256``."""

    @extend_schema(
        operation_id="randomization_designs_list_content",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="`csv`: the canonical file whose SHA-256 is `list_sha256` "
                "(text/csv, an attachment).",
            )
        ],
        responses={
            (200, "application/json"): s.DesignContentSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="With `?format=csv`: the canonical list or draws."
            ),
            **ERRORS,
        },
    )
    def get(self, request, design_id: int):
        design = design_get(user=request.user, design_id=design_id)
        as_csv = request.query_params.get("format") == "csv"
        design_list_open(design=design, by=request.user, purpose="csv" if as_csv else "api")
        entries = list(design_entries(design=design))
        draws = list(design_draws(design=design)) if design.method == Method.MINIMIZATION else []
        if as_csv:
            if design.method == Method.MINIMIZATION:
                text = canonical_draws_csv(d.draw_53bit for d in draws)
            else:
                text = canonical_csv(BlockList(entries=tuple(_block_entry(e) for e in entries)))
            response = HttpResponse(text, content_type="text/csv")
            name = f"{design.protocol.code}-design-{design.number}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        body = {
            "design": design.pk,
            "list_sha256": design.list_sha256,
            "entries": entries,
            "draws": [
                {"sequence_number": d.sequence_number, "draw_53bit": d.draw_53bit, "draw": d.draw}
                for d in draws
            ],
        }
        return Response(s.DesignContentSerializer(body).data)


def _block_entry(entry) -> BlockEntry:
    return BlockEntry(
        stratum=entry.stratum,
        sequence_number=entry.sequence_number,
        arm=entry.arm,
        block_number=entry.block_number,
        block_size=entry.block_size,
    )
