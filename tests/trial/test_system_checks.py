"""Django's system checks (admin options, models, URLs) pass: pytest alone does not run them."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_system_checks_pass():
    call_command("check", fail_level="WARNING")
