"""The OpenAPI schema is generated without warnings or errors and validates."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_generates_cleanly(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    text = out.read_text()
    assert "tokenAuth" in text and "/api/v1/patients/" in text
