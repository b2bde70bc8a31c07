"""Foundation API: sites, patients, screening and eligibility, consent, enrolment, audit.

One view per operation: input serializer -> one service or selector -> output serializer.
"""

from __future__ import annotations

import csv
import io
import json

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from trial.exceptions import InvalidInput, NotFound
from trial.models import Consent, ProtocolVersion, Site
from trial.selectors.access import role_of, scope_by_site, sites_visible_to
from trial.selectors.audit import patient_audit_trail
from trial.selectors.patients import PSEUDONYMISED_ROLES, patient_get, patient_list
from trial.services import patients as svc

from . import serializers as s
from .base import TrialApiView, TrialListApiView
from .pagination import TrialPagination
from .permissions import IsSiteStaff, IsStaffReader, ReadOnlyForCentral

ERRORS = {
    400: s.ErrorSerializer,
    403: s.ErrorSerializer,
    404: s.ErrorSerializer,
    409: s.ErrorSerializer,
    422: s.ErrorSerializer,
}


def _today():
    return timezone.localdate()


class SiteListApi(TrialListApiView):
    permission_classes = [IsStaffReader]
    serializer_class = s.SiteSerializer

    def get_queryset(self):
        return sites_visible_to(self.request.user).order_by("code")


class PatientListCreateApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]
    # Also tells the OpenAPI generator that GET answers a page with limit and offset.
    pagination_class = TrialPagination

    @extend_schema(
        operation_id="patients_list",
        parameters=[
            OpenApiParameter("site", str),
            OpenApiParameter("status", str),
            OpenApiParameter("search", str),
        ],
        responses={200: s.PatientSerializer(many=True)},
    )
    def get(self, request):
        qs = patient_list(
            user=request.user,
            site_code=request.query_params.get("site"),
            status=request.query_params.get("status"),
            search=request.query_params.get("search"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        data = s.PatientSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="patients_register",
        request=s.PatientRegisterSerializer,
        responses={201: s.PatientSerializer, **ERRORS},
    )
    def post(self, request):
        data = _valid(s.PatientRegisterSerializer, request.data)
        site = (
            scope_by_site(Site.objects.all(), request.user, "pk").filter(code=data["site"]).first()
        )
        if site is None:
            raise NotFound("Unknown site.", {"site": data["site"]})
        version = (
            ProtocolVersion.objects.filter(protocol__code=data["protocol"])
            .select_related("protocol")
            .order_by("-number")
            .first()
        )
        if version is None:
            raise NotFound("Unknown protocol.", {"protocol": data["protocol"]})
        patient = svc.patient_register(
            by=request.user,
            site=site,
            protocol_version=version,
            screening_number=data["screening_number"],
            year_of_birth=data["year_of_birth"],
            sex=data["sex"],
            menopausal_status=data["menopausal_status"],
        )
        return Response(
            s.PatientSerializer(patient, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PatientDetailApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(operation_id="patients_retrieve", responses={200: s.PatientSerializer, **ERRORS})
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        return Response(s.PatientSerializer(patient, context={"request": request}).data)

    @extend_schema(
        operation_id="patients_update",
        request=s.PatientUpdateSerializer,
        responses={200: s.PatientSerializer, **ERRORS},
    )
    def patch(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = dict(_valid(s.PatientUpdateSerializer, request.data))
        reason = data.pop("reason")
        if not data:
            raise InvalidInput("Nothing to change.")
        patient = svc.patient_update(by=request.user, patient=patient, changes=data, reason=reason)
        return Response(s.PatientSerializer(patient, context={"request": request}).data)


class PatientScreeningApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_screening_submit",
        request=s.ScreeningSubmitSerializer,
        responses={201: s.EligibilityAssessmentSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.ScreeningSubmitSerializer, request.data)
        assessment = svc.eligibility_submit(
            by=request.user,
            patient=patient,
            submitted=data["values"],
            screening_date=data["screening_date"],
            today=_today(),
        )
        return Response(
            s.EligibilityAssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED
        )


class PatientConsentApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(
        operation_id="patients_consents_list", responses={200: s.ConsentSerializer(many=True)}
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        consents = patient.consents.select_related("taken_by", "protocol_version")
        return Response(s.ConsentSerializer(consents, many=True).data)

    @extend_schema(
        operation_id="patients_consents_record",
        request=s.ConsentRecordSerializer,
        responses={201: s.ConsentSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.ConsentRecordSerializer, request.data)
        taken_by = get_user_model().objects.filter(username=data["taken_by"]).first()
        if taken_by is None:
            raise InvalidInput("Unknown staff member.", {"taken_by": data["taken_by"]})
        consent = svc.consent_record(
            by=request.user,
            patient=patient,
            form_version=data["form_version"],
            consented_on=data["consented_on"],
            taken_by=taken_by,
            today=_today(),
        )
        return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class ConsentWithdrawApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="consents_withdraw",
        request=s.ConsentWithdrawSerializer,
        responses={200: s.ConsentSerializer, **ERRORS},
    )
    def post(self, request, consent_id: int):
        consent = (
            scope_by_site(
                Consent.objects.select_related("patient__site"), request.user, "patient__site"
            )
            .filter(pk=consent_id)
            .first()
        )
        if consent is None:
            raise NotFound()
        data = _valid(s.ConsentWithdrawSerializer, request.data)
        consent = svc.consent_withdraw(
            by=request.user,
            consent=consent,
            withdrawn_on=data["withdrawn_on"],
            reason=data["reason"],
            today=_today(),
        )
        return Response(s.ConsentSerializer(consent).data)


class PatientEnrolApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_enrol",
        request=s.EnrolSerializer,
        responses={201: s.EnrolmentSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.EnrolSerializer, request.data)
        patient = svc.patient_enrol(
            by=request.user,
            patient=patient,
            endocrine_drug=data["endocrine_drug"],
            planned_c1d1=data["planned_c1d1"],
            today=_today(),
        )
        line = patient.lines.order_by("-created_at").first()
        body = {
            "patient": s.PatientSerializer(patient, context={"request": request}).data,
            "treatment_line": s.TreatmentLineSerializer(line).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class PatientScreenFailApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_screen_failure",
        request=s.ScreenFailSerializer,
        responses={200: s.PatientSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.ScreenFailSerializer, request.data)
        patient = svc.patient_screen_fail(by=request.user, patient=patient, reason=data["reason"])
        return Response(s.PatientSerializer(patient, context={"request": request}).data)


AUDIT_COLUMNS = ["at", "user", "record", "record_id", "action", "changes", "reason"]


def audit_csv(entries) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AUDIT_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.at.isoformat(),
                e.user or "",
                e.record,
                e.record_id,
                e.action,
                _csv_safe(json.dumps(e.changes, sort_keys=True, default=str)),
                _csv_safe(e.reason or ""),
            ]
        )
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formula injection in free text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


class PatientAuditApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="patients_audit_trail",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="`csv`: the same entries as a CSV file (text/csv, an attachment).",
            )
        ],
        responses={
            (200, "application/json"): s.AuditEntrySerializer(many=True),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="With `?format=csv`: " + ", ".join(AUDIT_COLUMNS)
            ),
            **ERRORS,
        },
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        masked = (
            frozenset({"screening_number"})
            if role_of(request.user) in PSEUDONYMISED_ROLES
            else frozenset()
        )
        entries = patient_audit_trail(patient=patient, masked_fields=masked)
        if request.query_params.get("format") == "csv":
            response = HttpResponse(audit_csv(entries), content_type="text/csv")
            name = patient.trial_number or f"patient-{patient.pk}"
            response["Content-Disposition"] = f'attachment; filename="audit-{name}.csv"'
            return response
        return Response(s.AuditEntrySerializer(entries, many=True).data)
