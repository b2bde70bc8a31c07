"""API of adverse events, tumour assessments, QoL questionnaires, PALATINE's locoregional
treatment and survival follow-up, and the haematological toxicity list (PADA-1 endpoint)."""

from __future__ import annotations

import re

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from trial.exceptions import InvalidInput
from trial.selectors import clinical as sel
from trial.selectors.patients import patient_get
from trial.services import adverse_events, palatine, qol, tumour

from . import step1_serializers as s
from .base import TrialApiView
from .pagination import TrialPagination
from .permissions import IsStaffReader, ReadOnlyForCentral
from .schedule_views import ERRORS, READ_ERRORS, _paginated, _valid

_STEP = re.compile(r"^[a-z0-9_]{1,20}$")


def _today():
    return timezone.localdate()


class PatientAdverseEventApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(
        operation_id="patients_adverse_events_list",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: s.PaginatedAdverseEvents, **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        return _paginated(
            self, request, sel.adverse_event_list(patient=patient), s.AdverseEventSerializer
        )

    @extend_schema(
        operation_id="patients_adverse_events_record",
        request=s.AdverseEventRecordSerializer,
        responses={201: s.AdverseEventSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.AdverseEventRecordSerializer, request.data)
        event = adverse_events.adverse_event_record(
            patient=patient, by=request.user, today=_today(), **data
        )
        return Response(s.AdverseEventSerializer(event).data, status=status.HTTP_201_CREATED)


class AdverseEventSaeReportApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="adverse_events_sae_report",
        request=None,
        responses={200: s.AdverseEventSerializer, **ERRORS},
    )
    def post(self, request, event_id: int):
        event = sel.adverse_event_get(user=request.user, event_id=event_id)
        event = adverse_events.adverse_event_sae_report(event=event, by=request.user)
        return Response(s.AdverseEventSerializer(event).data)


class AdverseEventResolveApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="adverse_events_resolve",
        request=s.AdverseEventResolveSerializer,
        responses={200: s.AdverseEventSerializer, **ERRORS},
    )
    def post(self, request, event_id: int):
        event = sel.adverse_event_get(user=request.user, event_id=event_id)
        data = _valid(s.AdverseEventResolveSerializer, request.data)
        event = adverse_events.adverse_event_resolve(
            event=event,
            by=request.user,
            resolved_on=data["resolved_on"],
            reason=data["reason"],
            today=_today(),
        )
        return Response(s.AdverseEventSerializer(event).data)


class AdverseEventRegradeApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="adverse_events_regrade",
        request=s.AdverseEventRegradeSerializer,
        responses={200: s.AdverseEventSerializer, **ERRORS},
    )
    def post(self, request, event_id: int):
        event = sel.adverse_event_get(user=request.user, event_id=event_id)
        data = _valid(s.AdverseEventRegradeSerializer, request.data)
        event = adverse_events.adverse_event_regrade(
            event=event,
            by=request.user,
            grade=data["grade"],
            reason=data["reason"],
            today=_today(),
        )
        return Response(s.AdverseEventSerializer(event).data)


class PatientTumourAssessmentApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(
        operation_id="patients_tumour_assessments_list",
        responses={200: s.TumourAssessmentSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        assessments = sel.tumour_assessment_list(patient=patient)
        return Response(s.TumourAssessmentSerializer(assessments, many=True).data)

    @extend_schema(
        operation_id="patients_tumour_assessments_record",
        request=s.TumourAssessmentRecordSerializer,
        responses={201: s.TumourAssessmentSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.TumourAssessmentRecordSerializer, request.data)
        assessment = tumour.tumour_assessment_record(
            patient=patient,
            by=request.user,
            assessed_on=data["assessed_on"],
            modality=data["modality"],
            target_lesions=[dict(lesion) for lesion in data["target_lesions"]],
            new_lesions=data["new_lesions"],
            non_target=data["non_target"],
            today=_today(),
        )
        return Response(
            s.TumourAssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED
        )


class PatientQolApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(
        operation_id="patients_qol_list",
        responses={200: s.QolQuestionnaireSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        return Response(s.QolQuestionnaireSerializer(sel.qol_list(patient=patient), many=True).data)

    @extend_schema(
        operation_id="patients_qol_submit",
        request=s.QolSubmitSerializer,
        responses={201: s.QolQuestionnaireSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.QolSubmitSerializer, request.data)
        form = qol.qol_submit(
            patient=patient,
            by=request.user,
            completed_on=data["completed_on"],
            responses=data["responses"],
            today=_today(),
        )
        return Response(s.QolQuestionnaireSerializer(form).data, status=status.HTTP_201_CREATED)


class PatientLocoregionalApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(
        operation_id="patients_locoregional_treatments_list",
        responses={200: s.LocoregionalTreatmentSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        rows = sel.locoregional_treatment_list(patient=patient)
        return Response(s.LocoregionalTreatmentSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="patients_locoregional_treatments_record",
        request=s.LocoregionalRecordSerializer,
        responses={201: s.LocoregionalTreatmentSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = dict(_valid(s.LocoregionalRecordSerializer, request.data))
        treatment = palatine.locoregional_treatment_record(
            patient=patient,
            by=request.user,
            today=_today(),
            modality=data.pop("treatment_modality"),
            **data,
        )
        return Response(
            s.LocoregionalTreatmentSerializer(treatment).data, status=status.HTTP_201_CREATED
        )


class PatientSurvivalContactApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(
        operation_id="patients_survival_contacts_list",
        responses={200: s.SurvivalContactSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        rows = sel.survival_contact_list(patient=patient)
        return Response(s.SurvivalContactSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="patients_survival_contacts_record",
        request=s.SurvivalContactRecordSerializer,
        responses={201: s.SurvivalContactSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = dict(_valid(s.SurvivalContactRecordSerializer, request.data))
        contact = palatine.survival_contact_record(
            patient=patient,
            by=request.user,
            today=_today(),
            method=data.pop("contact_method"),
            **data,
        )
        return Response(s.SurvivalContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class HaematologicalToxicityListApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="haematological_toxicities_list",
        parameters=[
            OpenApiParameter("step", str, description="Treatment line step (default step1)."),
            OpenApiParameter("min_grade", int, description="Lowest CTCAE grade (default 3)."),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: s.PaginatedToxicities, **READ_ERRORS},
    )
    def get(self, request):
        raw = request.query_params.get("min_grade", "3")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 4:
            raise InvalidInput(details={"min_grade": raw[:8]})
        step = request.query_params.get("step", "step1")
        if step and not _STEP.match(step):
            raise InvalidInput(details={"step": step[:32]})
        qs = sel.haematological_toxicities(user=request.user, step=step or None, min_grade=int(raw))
        paginator = TrialPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.ToxicitySerializer(page, many=True).data)
