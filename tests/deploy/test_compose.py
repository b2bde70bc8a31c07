"""The compose stack and its example environment.

`docker compose config` is the authority where the compose plugin exists; this machine (like
CI) has the docker client without it, so that check runs only when `docker compose version`
answers. The structural checks below always run, on the file as PyYAML reads it (merge keys
included).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.deploy.support import DEPLOY, settings_variables

APP_SERVICES = {"migrate", "web", "worker", "worker-exports", "beat"}
QUEUES = {"default", "reminders", "lab", "exports"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _command(service: dict) -> list[str]:
    return service.get("command") or []


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_stack_has_web_workers_one_beat_postgres_redis_and_a_migration(services):
    assert set(services) == APP_SERVICES | {"postgres", "redis"}
    beats = [name for name, service in services.items() if "beat" in _command(service)]
    assert beats == ["beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert _command(services["migrate"]) == ["django-admin", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert "command" not in services["web"]  # the image's gunicorn command


def test_workers_cover_every_queue_and_exports_run_on_their_own_pool(services):
    workers = {name: _command(s) for name, s in services.items() if "worker" in _command(s)}
    assert set(workers) == {"worker", "worker-exports"}
    queues = {name: set(_option(cmd, "--queues").split(",")) for name, cmd in workers.items()}
    assert queues["worker-exports"] == {"exports"}
    assert set().union(*queues.values()) == QUEUES
    for command in workers.values():
        assert command[:5] == ["celery", "-A", "deploy", "--quiet", "worker"]
        assert _option(command, "--hostname") == "worker@%h"  # what the healthcheck pings


def test_app_services_start_after_a_successful_migration(services):
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_long_running_services_have_health_checks(services):
    for name in ("postgres", "redis", "web", "worker", "worker-exports"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name
    assert "/health/ready" in " ".join(services["web"]["healthcheck"]["test"])
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    # beat serves nothing to probe, and the migration exits: the image's web check is off
    for name in ("beat", "migrate"):
        assert services[name]["healthcheck"] == {"disable": True}


def test_named_volumes_back_every_stateful_service(compose, services):
    declared = set(compose["volumes"])
    assert declared == {"postgres-data", "redis-data", "trial-data"}
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source, _, target = volume.partition(":")
            assert source in declared, f"{volume} is not a named volume"
            used.add(source)
    assert used == declared
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in APP_SERVICES:
        assert "trial-data:/var/lib/trial" in services[name]["volumes"]


def test_app_services_are_locked_down_and_share_the_example_environment(services):
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"][0] == {"path": "env.example", "required": True}
        assert service["env_file"][1] == {"path": ".env", "required": False}
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert "${POSTGRES_PASSWORD:?" in service["environment"]["DATABASE_URL"]
    assert services["web"]["ports"] == ["127.0.0.1:${TRIAL_HTTP_PORT:-8000}:8000"]
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]
    assert "noeviction" in _command(services["redis"])


def test_env_example_lists_every_variable_the_settings_read():
    names = settings_variables()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TRIAL_VAR_DIR", "LOG_FORMAT"} <= names
    listed = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (DEPLOY / "env.example").read_text(), re.M)
    )
    assert names - listed == set()


def test_env_example_ships_no_usable_secret():
    values = dict(
        line.split("=", 1)
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert values["SECRET_KEY"] == ""  # production refuses to start until it is set
    assert values["POSTGRES_PASSWORD"] == ""  # compose refuses to interpolate until it is set
    assert values["TRIAL_ENV"] == "production"
    assert values["DEBUG"] == "false"
    assert all(host.endswith("example.org") for host in values["ALLOWED_HOSTS"].split(","))


def _compose_plugin_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_plugin_available(), reason="the docker compose plugin is absent")
def test_docker_compose_config_validates(tmp_path):
    env = {**os.environ, "POSTGRES_PASSWORD": "only-for-config-validation"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
