"""Token revocation: the command, the admin action, and the audit trail of both."""

import pytest
from django.core.management import CommandError, call_command

from trial.models import ApiToken, AuditEvent
from trial.services.accounts import api_token_issue

pytestmark = pytest.mark.django_db


def test_revoke_by_prefix_and_by_user(investigator_a, coordinator_a):
    one, _ = api_token_issue(user=investigator_a)
    api_token_issue(user=coordinator_a)
    api_token_issue(user=coordinator_a)
    call_command("revoke_api_token", one.prefix)
    assert ApiToken.objects.get(pk=one.pk).revoked_at is not None
    call_command("revoke_api_token", "--user", coordinator_a.username)
    assert not ApiToken.objects.filter(revoked_at=None).exists()
    assert AuditEvent.objects.filter(action="api_token_revoked").count() == 3
    with pytest.raises(CommandError):
        call_command("revoke_api_token", one.prefix)


def test_data_manager_revokes_from_the_admin(client, data_manager, investigator_a):
    token, _ = api_token_issue(user=investigator_a)
    client.force_login(data_manager)
    response = client.post(
        "/admin/trial/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert AuditEvent.objects.get(action="api_token_revoked").actor == data_manager


def test_site_staff_cannot_reach_tokens(client, investigator_a):
    client.force_login(investigator_a)
    assert client.get("/admin/trial/apitoken/").status_code == 403
