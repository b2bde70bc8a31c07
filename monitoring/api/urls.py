from django.urls import path

from . import views

urlpatterns = [
    path("ctdna/results/", views.CtdnaResultListCreateApi.as_view(), name="ctdna-results"),
    path("ctdna/results/batch/", views.CtdnaResultBatchApi.as_view(), name="ctdna-results-batch"),
    path(
        "ctdna/results/<int:result_id>/",
        views.CtdnaResultDetailApi.as_view(),
        name="ctdna-result-detail",
    ),
    path(
        "ctdna/results/<int:result_id>/amendments/",
        views.CtdnaResultAmendApi.as_view(),
        name="ctdna-result-amend",
    ),
    path("fhir/", views.FhirBundleApi.as_view(), name="fhir-bundle"),
    path(
        "patients/<int:patient_id>/samples/",
        views.PatientSampleListCreateApi.as_view(),
        name="patient-samples",
    ),
    path(
        "patients/<int:patient_id>/ctdna-results/",
        views.PatientCtdnaResultListApi.as_view(),
        name="patient-ctdna-results",
    ),
]
