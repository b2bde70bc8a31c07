"""The ctDNA API: the lab endpoints (JSON, batch, amendments, FHIR R4) and the site's samples.

One view per operation: the request body is kept verbatim (a LabSubmission), then one service
call. Lab endpoints need the ``lab`` role and are rate-limited per laboratory.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from monitoring import fhir_parse
from trial.api.base import TrialApiView
from trial.api.pagination import TrialPagination
from trial.api.parsers import TrialJSONParser
from trial.api.permissions import IsLab, IsStaffReader, ReadOnlyForCentral
from trial.api.serializers import ErrorSerializer
from trial.exceptions import DomainError
from trial.selectors.patients import patient_get

from ..exceptions import InvalidBatch
from ..models import Channel
from ..selectors import (
    lab_for_user,
    result_get_for_lab,
    result_list_for_lab,
    result_list_for_patient,
    sample_list_for_patient,
)
from ..services.ingestion import (
    ctdna_result_amend,
    ctdna_result_ingest,
    ctdna_results_ingest_all,
    ctdna_results_ingest_batch,
    submission_record,
)
from ..services.samples import sample_record
from . import examples
from . import serializers as s
from .parsers import FhirJsonParser, FhirJsonRenderer
from .permissions import LabRateThrottle

MAX_BATCH = 500
ERRORS = {code: ErrorSerializer for code in (400, 401, 403, 404, 409, 422, 429)}


def _today():
    return timezone.localdate()


def _result_data(result, request) -> dict:
    return s.ResultSerializer(result, context={"request": request}).data


def _stored(result_id: int, lab):
    """The stored result as the list endpoints show it (with ``is_current``)."""
    return result_get_for_lab(lab=lab, result_id=result_id)


def _submission(request, lab, channel: str):
    return submission_record(
        lab=lab, channel=channel, media_type=request.content_type or "", body=request.body
    )


class LabApiView(TrialApiView):
    permission_classes = [IsLab]
    throttle_classes = [LabRateThrottle]


class CtdnaResultListCreateApi(LabApiView):
    # Also tells the OpenAPI generator that GET answers a page with limit and offset.
    pagination_class = TrialPagination

    @extend_schema(
        operation_id="ctdna_results_list",
        summary="List the results your laboratory posted",
        parameters=[
            OpenApiParameter("sample_id", str),
            OpenApiParameter("patient_id", str, description="trial number"),
        ],
        responses={200: s.ResultSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        lab = lab_for_user(request.user)
        qs = result_list_for_lab(
            lab=lab,
            sample_id=request.query_params.get("sample_id"),
            patient_id=request.query_params.get("patient_id"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        data = s.ResultSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="ctdna_results_post",
        summary="Post one ctDNA result (JSON contract)",
        description=examples.RESULT_POST_DESCRIPTION,
        request=OpenApiTypes.OBJECT,
        responses={
            201: OpenApiResponse(s.ResultSerializer, description="Stored and interpreted."),
            200: OpenApiResponse(
                s.ResultSerializer, description="Identical replay: the stored result."
            ),
            **ERRORS,
        },
        examples=examples.RESULT_POST_EXAMPLES,
    )
    def post(self, request):
        lab = lab_for_user(request.user)
        submission = _submission(request, lab, Channel.JSON)
        outcome = ctdna_result_ingest(
            lab=lab, payload=request.data, submission=submission, today=_today()
        )
        # A new result is current and holds every relation it shows; a replay is read back.
        result = outcome.result if outcome.created else _stored(outcome.result.pk, lab)
        return Response(
            _result_data(result, request),
            status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
        )


class CtdnaResultBatchApi(LabApiView):
    @extend_schema(
        operation_id="ctdna_results_batch",
        summary="Post a list of ctDNA results; each item is answered on its own",
        description=(
            "A JSON list of 1 to 500 results in the same contract. Each item is checked on its "
            "own, so a bad item does not reject the others; the good ones are stored together, "
            "each interpreted as if posted alone in list order. The answer is 200 with "
            "one entry per item: `status` 201 (stored), 200 (identical replay) or the error's "
            "HTTP status with `error` = `{code, message, details}`. A body that is not a list "
            "is 400 `invalid_batch`."
        ),
        request=OpenApiTypes.OBJECT,
        responses={200: s.BatchResponseSerializer, **ERRORS},
        examples=examples.BATCH_EXAMPLES,
    )
    def post(self, request):
        lab = lab_for_user(request.user)
        submission = _submission(request, lab, Channel.BATCH)
        items = request.data
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise InvalidBatch(details={"max_items": MAX_BATCH})
        answers, counts = [], {"created": 0, "replayed": 0, "failed": 0}
        outcomes = ctdna_results_ingest_batch(
            lab=lab, items=items, submission=submission, today=_today()
        )
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, DomainError):
                counts["failed"] += 1
                answers.append(
                    {
                        "index": index,
                        "status": outcome.status_code,
                        "error": {
                            "code": outcome.code,
                            "message": str(outcome.message),
                            "details": outcome.details,
                        },
                    }
                )
                continue
            counts["created" if outcome.created else "replayed"] += 1
            answers.append(
                {"index": index, "status": 201 if outcome.created else 200, "pk": outcome.result.pk}
            )
        # New results are current and hold every relation they show (variants included);
        # only replayed ones are read back.
        made = {
            o.result.pk: o.result for o in outcomes if not isinstance(o, DomainError) and o.created
        }
        replayed = [a["pk"] for a in answers if "pk" in a and a["pk"] not in made]
        results = list(made.values())
        if replayed:
            results += result_list_for_lab(lab=lab).filter(pk__in=replayed)
        # One serializer for the list: its fields are built once, not once per result.
        data = s.ResultSerializer(results, many=True, context={"request": request}).data
        stored = {r.pk: item for r, item in zip(results, data, strict=True)}
        for answer in answers:
            if "pk" in answer:
                answer["result"] = stored[answer.pop("pk")]
        return Response({**counts, "results": answers})


class CtdnaResultDetailApi(LabApiView):
    @extend_schema(
        operation_id="ctdna_results_retrieve",
        summary="One result your laboratory posted",
        responses={200: s.ResultSerializer, **ERRORS},
    )
    def get(self, request, result_id: int):
        lab = lab_for_user(request.user)
        return Response(_result_data(result_get_for_lab(lab=lab, result_id=result_id), request))


class CtdnaResultAmendApi(LabApiView):
    @extend_schema(
        operation_id="ctdna_results_amend",
        summary="Correct a result: a new version with a reason, the original kept",
        description=(
            '`{id}` is the latest version of the result. The body is `{"reason": ..., '
            '"result": {...}}` with the corrected result in the same contract (same sample and '
            "patient). 201 with the new version; 200 when this exact amendment was already "
            "stored. Errors: `reason_required`, `amendment_mismatch`, `amendment_unchanged`, "
            "`result_superseded`, and every validation code of the result contract."
        ),
        request=s.AmendmentSerializer,
        responses={201: s.ResultSerializer, 200: s.ResultSerializer, **ERRORS},
        examples=examples.AMENDMENT_EXAMPLES,
    )
    def post(self, request, result_id: int):
        lab = lab_for_user(request.user)
        submission = _submission(request, lab, Channel.AMENDMENT)
        serializer = s.AmendmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = ctdna_result_amend(
            lab=lab,
            result_id=result_id,
            payload=serializer.validated_data["result"],
            reason=serializer.validated_data["reason"],
            submission=submission,
            today=_today(),
        )
        return Response(
            _result_data(_stored(outcome.result.pk, lab), request),
            status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
        )


_FHIR_ELEMENTS = {
    "sample_id": "specimen",
    "patient_id": "subject",
    "collected_on": "effectiveDateTime",
    "analysed_on": "issued",
    "status": "status",
    "failure_reason": "dataAbsentReason",
    "variants": "component",
    "assay": "method",
}
_FHIR_ISSUE_TYPES = {403: "forbidden", 404: "not-found", 409: "conflict", 422: "business-rule"}


def _fhir_problems(indexes, error: DomainError) -> list[fhir_parse.FhirProblem]:
    """A service error on one specimen, as problems located in its first Bundle entry."""
    base = f"Bundle.entry[{indexes[0]}].resource"
    listed = error.details.get("problems") or [
        {"field": error.details.get("field", ""), "code": error.code, "message": str(error.message)}
    ]
    problems = []
    for problem in listed:
        top = problem["field"].split("[")[0].split(".")[0]
        element = _FHIR_ELEMENTS.get(top)
        problems.append(
            fhir_parse.FhirProblem(
                f"{base}.{element}" if element else base,
                problem["code"],
                f"{problem['message']} ({problem['field']})"
                if problem["field"]
                else problem["message"],
                _FHIR_ISSUE_TYPES.get(error.status_code),
            )
        )
    return problems


class FhirBundleApi(LabApiView):
    parser_classes = [FhirJsonParser, TrialJSONParser]
    renderer_classes = [FhirJsonRenderer, JSONRenderer]

    @extend_schema(
        operation_id="fhir_bundle_post",
        summary="Post ctDNA results as a FHIR R4 Bundle (Genomics Reporting variants)",
        description=examples.FHIR_DESCRIPTION,
        request={"application/fhir+json": OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="transaction-response Bundle"),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome"),
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome"),
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome"),
            422: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome"),
            429: ErrorSerializer,
        },
        examples=examples.FHIR_EXAMPLES,
    )
    def post(self, request):
        lab = lab_for_user(request.user)
        submission = _submission(request, lab, Channel.FHIR)
        try:
            bundle = request.data
        except ParseError as error:
            problem = fhir_parse.FhirProblem("Bundle", fhir_parse.INVALID_BUNDLE, str(error.detail))
            return self._outcome([problem], status.HTTP_400_BAD_REQUEST)
        parsed, problems = fhir_parse.parse_bundle(bundle, default_assay="")
        if problems:
            return self._outcome(problems, status.HTTP_400_BAD_REQUEST)
        outcomes, succeeded = ctdna_results_ingest_all(
            lab=lab,
            items=[(p.payload, p.entry_indexes) for p in parsed],
            submission=submission,
            today=_today(),
        )
        if not succeeded:
            errors = [(i, o) for i, o in outcomes if isinstance(o, DomainError)]
            statuses = {error.status_code for _i, error in errors}
            problems = [p for indexes, error in errors for p in _fhir_problems(indexes, error)]
            return self._outcome(problems, statuses.pop() if len(statuses) == 1 else 400)
        answer = fhir_parse.build_transaction_response(
            [
                fhir_parse.EntryOutcome(
                    entry_indexes=tuple(indexes),
                    status=201 if outcome.created else 200,
                    location=reverse("ctdna-result-detail", args=[outcome.result.pk]),
                )
                for indexes, outcome in outcomes
            ],
            entry_count=len(bundle["entry"]),
        )
        return Response(answer, status=status.HTTP_200_OK)

    def _outcome(self, problems, http_status: int) -> Response:
        return Response(fhir_parse.build_operation_outcome(problems), status=http_status)


class PatientSampleListCreateApi(TrialApiView):
    permission_classes = [ReadOnlyForCentral]
    # Also tells the OpenAPI generator that GET answers a page with limit and offset.
    pagination_class = TrialPagination

    @extend_schema(
        operation_id="patient_samples_list",
        summary="A patient's ctDNA blood draws",
        responses={200: s.SampleSerializer(many=True), **ERRORS},
    )
    def get(self, request, patient_id: int):
        qs = sample_list_for_patient(user=request.user, patient_id=patient_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.SampleSerializer(page, many=True).data)

    @extend_schema(
        operation_id="patient_samples_record",
        summary="Record a ctDNA blood draw (site staff); marks the scheduled ctDNA item done",
        description=(
            "Errors: `validation_error`, `invalid_sample_id`, `duplicate_sample_id` (409), "
            "`patient_not_enrolled`, `ctdna_not_monitored`, `invalid_draw_date` (422), "
            "`not_found` (another site's patient), `permission_denied` (central roles)."
        ),
        request=s.SampleCreateSerializer,
        responses={201: s.SampleSerializer, **ERRORS},
    )
    def post(self, request, patient_id: int):
        patient = patient_get(user=request.user, patient_id=patient_id)
        serializer = s.SampleCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sample = sample_record(
            by=request.user, patient=patient, today=_today(), **serializer.validated_data
        )
        return Response(s.SampleSerializer(sample).data, status=status.HTTP_201_CREATED)


class PatientCtdnaResultListApi(TrialApiView):
    permission_classes = [IsStaffReader]
    # Also tells the OpenAPI generator that GET answers a page with limit and offset.
    pagination_class = TrialPagination

    @extend_schema(
        operation_id="patient_ctdna_results_list",
        summary="A patient's ctDNA results with their interpretation (every version)",
        responses={200: s.ResultSerializer(many=True), **ERRORS},
    )
    def get(self, request, patient_id: int):
        qs = result_list_for_patient(user=request.user, patient_id=patient_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        data = s.ResultSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)
