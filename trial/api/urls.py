from django.urls import path

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
]
