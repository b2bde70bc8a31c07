"""The product's URLs plus the baseline endpoint."""

from django.urls import path

from bench.baseline import BASELINE_PATH
from bench.baseline.views import BaselineInsertApi
from deploy.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path(BASELINE_PATH.lstrip("/"), BaselineInsertApi.as_view(), name="bench-baseline"),
]
