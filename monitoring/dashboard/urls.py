"""Central monitoring at /dashboard/: pages, the CSV of each table, exports and their jobs."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from . import views
from .access import Page

#: URL prefix of each analysis page; its tables are under ``<prefix>csv/<table>/``.
PAGE_PATHS = {
    Page.ENROLMENT: "enrolment/",
    Page.FLOW: "flow/",
    Page.CTDNA: "ctdna/",
    Page.OPERATIONS: "operations/",
    Page.SAFETY: "safety/",
    Page.EFFICACY: "efficacy/",
    Page.EFFICACY_BY_ARM: "efficacy/by-arm/",
    Page.QOL: "qol/",
}

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.DashboardLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    path("exports/", views.exports, name="exports"),
    path("exports/jobs/", views.export_job_create, name="export_job_create"),
    path("exports/jobs/<int:pk>/", views.export_job_status, name="export_job_status"),
    path("exports/jobs/<int:pk>/file/", views.export_job_download, name="export_job_download"),
    path("exports/<slug:kind>/", views.export_download, name="export_download"),
]
for page, prefix in PAGE_PATHS.items():
    urlpatterns += [
        path(prefix, views.PAGE_VIEWS[page], name=page.value),
        path(f"{prefix}csv/<slug:table>/", views.TABLE_VIEWS[page], name=f"{page.value}_csv"),
    ]
