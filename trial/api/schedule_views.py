"""API of the calendar, cycles, blood counts and dose decisions.

One view per operation: input serializer -> one service or selector -> output serializer.
Reads: site staff of the patient's site and central roles; writes: site staff (the services
check the role and the site again).
"""

from __future__ import annotations

import re

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from trial.exceptions import InvalidInput
from trial.selectors import clinical as sel
from trial.selectors.patients import patient_get
from trial.selectors.schedule import annotate_live, due_and_overdue, patient_schedule
from trial.services import blood_counts, cycles

from . import step1_serializers as s
from .base import TrialApiView
from .pagination import TrialPagination
from .permissions import IsSiteStaff, IsStaffReader, ReadOnlyForCentral
from .serializers import ErrorSerializer

ERRORS = {code: ErrorSerializer for code in (400, 403, 404, 409, 422)}
READ_ERRORS = {code: ErrorSerializer for code in (400, 403, 404)}
_SITE_CODE = re.compile(r"^[A-Z0-9]{2,16}$")


def site_code_param(request) -> str | None:
    """The ``?site=`` filter: a site code, else 400 ``invalid_input`` (never reaches SQL)."""
    value = request.query_params.get("site")
    if value is None or value == "":
        return None
    if not _SITE_CODE.match(value):
        raise InvalidInput(_("Not a site code."), {"site": value[:32]})
    return value


def _today():
    return timezone.localdate()


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _paginated(view, request, qs, serializer_class):
    paginator = TrialPagination()
    page = paginator.paginate_queryset(qs, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class PatientScheduleApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="patients_schedule",
        responses={200: s.PatientScheduleSerializer, **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        groups = patient_schedule(patient=patient, today=_today())
        return Response(s.PatientScheduleSerializer(groups).data)


class ScheduleDueListApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="schedule_due_list",
        parameters=[
            OpenApiParameter("site", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: s.PaginatedDueItems, **READ_ERRORS},
    )
    def get(self, request):
        qs = due_and_overdue(user=request.user, today=_today(), site_code=site_code_param(request))
        paginator = TrialPagination()
        page = annotate_live(paginator.paginate_queryset(qs, request, view=self), _today())
        return paginator.get_paginated_response(s.DueItemSerializer(page, many=True).data)


class PatientCycleListApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="patients_cycles_list", responses={200: s.CycleSerializer(many=True)}
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        return Response(s.CycleSerializer(sel.cycle_list(patient=patient), many=True).data)


class CycleStartApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_cycles_start",
        request=s.CycleStartSerializer,
        responses={201: s.CycleSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.CycleStartSerializer, request.data)
        cycle = cycles.cycle_start(
            patient=patient, on=data["started_on"], by=request.user, today=_today()
        )
        return Response(s.CycleSerializer(cycle).data, status=status.HTTP_201_CREATED)


class CycleHoldApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_cycles_hold",
        request=s.CycleHoldSerializer,
        responses={200: s.CycleSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.CycleHoldSerializer, request.data)
        cycle = cycles.cycle_hold(
            patient=patient, on=data["on"], reason=data["reason"], by=request.user, today=_today()
        )
        return Response(s.CycleSerializer(cycle).data)


class CycleHoldReleaseApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_cycles_release",
        request=s.CycleHoldSerializer,
        responses={200: s.CycleSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.CycleHoldSerializer, request.data)
        cycle = cycles.cycle_hold_release(
            patient=patient, on=data["on"], reason=data["reason"], by=request.user, today=_today()
        )
        return Response(s.CycleSerializer(cycle).data)


class CycleDelayApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_cycles_delay",
        request=s.CycleDelaySerializer,
        responses={200: s.CycleSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.CycleDelaySerializer, request.data)
        cycle = cycles.cycle_delay(
            patient=patient,
            planned_d1=data["planned_d1"],
            reason=data["reason"],
            by=request.user,
            today=_today(),
        )
        return Response(s.CycleSerializer(cycle).data)


class FulvestrantInjectionApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="patients_fulvestrant_injections_record",
        request=s.InjectionSerializer,
        responses={201: s.ScheduleItemSerializer, 204: None, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.InjectionSerializer, request.data)
        item = cycles.fulvestrant_injection_record(
            patient=patient, on=data["given_on"], by=request.user, today=_today()
        )
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        item.live_status = item.status
        return Response(s.ScheduleItemSerializer(item).data, status=status.HTTP_201_CREATED)


class PatientBloodCountApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]

    @extend_schema(
        operation_id="patients_blood_counts_list",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: s.PaginatedBloodCounts, **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        return _paginated(
            self, request, sel.blood_count_list(patient=patient), s.BloodCountSerializer
        )

    @extend_schema(
        operation_id="patients_blood_counts_record",
        request=s.BloodCountRecordSerializer,
        responses={201: s.BloodCountResultSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        data = _valid(s.BloodCountRecordSerializer, request.data)
        result = blood_counts.blood_count_record(
            patient=patient,
            by=request.user,
            drawn_on=data["drawn_on"],
            cycle_number=data["cycle"],
            cycle_day=data["day"],
            values=s.blood_values(data["values"]),
            lln=s.blood_values(data["lln"]) if data.get("lln") else None,
            temperature_c=data.get("temperature_c"),
            infection=data["infection"],
            lymphopenia_clinical_event=data["lymphopenia_clinical_event"],
            today=_today(),
        )
        return Response(s.BloodCountResultSerializer(result).data, status=status.HTTP_201_CREATED)


class PatientDoseDecisionListApi(TrialApiView):
    permission_classes = [IsStaffReader]

    @extend_schema(
        operation_id="patients_dose_decisions_list",
        responses={200: s.DoseDecisionSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        decisions = sel.dose_decision_list(patient=patient)
        return Response(s.DoseDecisionSerializer(decisions, many=True).data)


class DoseDecisionConfirmApi(TrialApiView):
    permission_classes = [IsSiteStaff]

    @extend_schema(
        operation_id="dose_decisions_confirm",
        request=s.DoseDecisionConfirmSerializer,
        responses={200: s.DoseDecisionSerializer, **ERRORS},
    )
    def post(self, request, decision_id: int):
        decision = sel.dose_decision_get(user=request.user, decision_id=decision_id)
        data = _valid(s.DoseDecisionConfirmSerializer, request.data)
        decision = cycles.dose_decision_confirm(
            decision=decision,
            by=request.user,
            password=data["password"],
            dose_mg=data.get("dose_mg"),
            comment=data["comment"],
            today=_today(),
        )
        return Response(s.DoseDecisionSerializer(decision).data)
