from django.urls import path

from . import views

urlpatterns = [
    path(
        "patients/<int:patient_id>/randomize/",
        views.PatientRandomizeApi.as_view(),
        name="patient-randomize",
    ),
    path(
        "patients/<int:patient_id>/crossover/",
        views.PatientCrossoverApi.as_view(),
        name="patient-crossover",
    ),
    path(
        "patients/<int:patient_id>/allocation/",
        views.PatientAllocationApi.as_view(),
        name="patient-allocation",
    ),
    path(
        "randomization/balance/",
        views.RandomizationBalanceApi.as_view(),
        name="randomization-balance",
    ),
    path("randomization/designs/", views.DesignListApi.as_view(), name="randomization-designs"),
    path(
        "randomization/designs/<int:design_id>/",
        views.DesignDetailApi.as_view(),
        name="randomization-design-detail",
    ),
    path(
        "randomization/designs/<int:design_id>/list/",
        views.DesignContentApi.as_view(),
        name="randomization-design-list",
    ),
]
