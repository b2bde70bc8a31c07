from django.urls import path

from . import clinical_views as cv
from . import schedule_views as sv
from . import views

urlpatterns = [
    path("sites/", views.SiteListApi.as_view(), name="sites-list"),
    path("patients/", views.PatientListCreateApi.as_view(), name="patients"),
    path("patients/<int:patient_id>/", views.PatientDetailApi.as_view(), name="patient-detail"),
    path(
        "patients/<int:patient_id>/screening/",
        views.PatientScreeningApi.as_view(),
        name="patient-screening",
    ),
    path(
        "patients/<int:patient_id>/consents/",
        views.PatientConsentApi.as_view(),
        name="patient-consents",
    ),
    path("patients/<int:patient_id>/enrol/", views.PatientEnrolApi.as_view(), name="patient-enrol"),
    path(
        "patients/<int:patient_id>/screen-failure/",
        views.PatientScreenFailApi.as_view(),
        name="patient-screen-failure",
    ),
    path("patients/<int:patient_id>/audit/", views.PatientAuditApi.as_view(), name="patient-audit"),
    path(
        "consents/<int:consent_id>/withdraw/",
        views.ConsentWithdrawApi.as_view(),
        name="consent-withdraw",
    ),
    # Step 1 follow-up: calendar, cycles, blood counts and dose decisions
    path(
        "patients/<int:patient_id>/schedule/",
        sv.PatientScheduleApi.as_view(),
        name="patient-schedule",
    ),
    path("schedule/due/", sv.ScheduleDueListApi.as_view(), name="schedule-due"),
    path(
        "patients/<int:patient_id>/cycles/", sv.PatientCycleListApi.as_view(), name="patient-cycles"
    ),
    path(
        "patients/<int:patient_id>/cycles/start/",
        sv.CycleStartApi.as_view(),
        name="patient-cycle-start",
    ),
    path(
        "patients/<int:patient_id>/cycles/hold/",
        sv.CycleHoldApi.as_view(),
        name="patient-cycle-hold",
    ),
    path(
        "patients/<int:patient_id>/cycles/release/",
        sv.CycleHoldReleaseApi.as_view(),
        name="patient-cycle-release",
    ),
    path(
        "patients/<int:patient_id>/cycles/delay/",
        sv.CycleDelayApi.as_view(),
        name="patient-cycle-delay",
    ),
    path(
        "patients/<int:patient_id>/fulvestrant-injections/",
        sv.FulvestrantInjectionApi.as_view(),
        name="patient-fulvestrant-injections",
    ),
    path(
        "patients/<int:patient_id>/blood-counts/",
        sv.PatientBloodCountApi.as_view(),
        name="patient-blood-counts",
    ),
    path(
        "patients/<int:patient_id>/dose-decisions/",
        sv.PatientDoseDecisionListApi.as_view(),
        name="patient-dose-decisions",
    ),
    path(
        "dose-decisions/<int:decision_id>/confirm/",
        sv.DoseDecisionConfirmApi.as_view(),
        name="dose-decision-confirm",
    ),
    # Step 1 follow-up: safety, tumour, QoL, PALATINE
    path(
        "patients/<int:patient_id>/adverse-events/",
        cv.PatientAdverseEventApi.as_view(),
        name="patient-adverse-events",
    ),
    path(
        "adverse-events/<int:event_id>/sae-report/",
        cv.AdverseEventSaeReportApi.as_view(),
        name="adverse-event-sae-report",
    ),
    path(
        "adverse-events/<int:event_id>/resolve/",
        cv.AdverseEventResolveApi.as_view(),
        name="adverse-event-resolve",
    ),
    path(
        "adverse-events/<int:event_id>/regrade/",
        cv.AdverseEventRegradeApi.as_view(),
        name="adverse-event-regrade",
    ),
    path(
        "patients/<int:patient_id>/tumour-assessments/",
        cv.PatientTumourAssessmentApi.as_view(),
        name="patient-tumour-assessments",
    ),
    path("patients/<int:patient_id>/qol/", cv.PatientQolApi.as_view(), name="patient-qol"),
    path(
        "patients/<int:patient_id>/locoregional-treatments/",
        cv.PatientLocoregionalApi.as_view(),
        name="patient-locoregional-treatments",
    ),
    path(
        "patients/<int:patient_id>/survival-contacts/",
        cv.PatientSurvivalContactApi.as_view(),
        name="patient-survival-contacts",
    ),
    path(
        "haematological-toxicities/",
        cv.HaematologicalToxicityListApi.as_view(),
        name="haematological-toxicities",
    ),
]
