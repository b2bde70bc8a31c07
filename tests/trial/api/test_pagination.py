"""Every list's limit is bounded: a limit past PostgreSQL's bigint was a 500 (found by the
heavy schemathesis run)."""

import pytest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIClient, APIRequestFactory

from monitoring.api.views import CtdnaResultListCreateApi
from randomization.api.views import DesignListApi
from trial.api.pagination import TrialPagination
from trial.api.views import PatientListCreateApi

pytestmark = pytest.mark.django_db

HUGE = "10489199658010339704832"


@pytest.fixture
def client(investigator_a):
    client = APIClient()
    client.force_authenticate(investigator_a)
    return client


@pytest.mark.parametrize(
    "query",
    [f"limit={HUGE}", f"offset={HUGE}", f"limit={HUGE}&offset=5", f"limit={HUGE}&offset=-844"],
)
def test_a_huge_limit_or_offset_answers_a_page(client, site_a, query):
    response = client.get(f"/api/v1/sites/?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_huge_limit_is_cut_to_the_maximum():
    request = Request(APIRequestFactory().get("/api/v1/sites/", {"limit": HUGE}))
    assert TrialPagination().get_limit(request) == TrialPagination.max_limit == 1000


def test_the_lists_use_the_bounded_pagination():
    assert api_settings.DEFAULT_PAGINATION_CLASS is TrialPagination
    for view in (PatientListCreateApi, CtdnaResultListCreateApi, DesignListApi):
        assert view.pagination_class is TrialPagination
