"""The container image, checked without a Docker engine.

This machine (and CI, the same kind) has the docker client but no engine, so the image is not
built here. Instead: the Dockerfile is parsed and its structure checked; the build-time
collectstatic step is run with the same throwaway environment; and the wheel the builder
installs is built from a copy of the sources and checked to carry every data file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
DOCKERFILE = BASE_DIR / "deploy" / "Dockerfile"
PACKAGES = ("deploy", "trial", "randomization", "monitoring")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def logical_lines(text: str) -> list[str]:
    """Instructions with continuations joined; comments and parser directives dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue  # comments may sit inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    assert not current, "the Dockerfile ends inside a line continuation"
    return [line for line in lines if line]


def parse(text: str) -> tuple[list[str], list[Stage]]:
    global_args: list[str] = []
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), flags=re.IGNORECASE)
            assert match, f"unreadable FROM: {line}"
            stages.append(Stage(base=match[1], name=(match[2] or str(len(stages))).lower()))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            global_args.append(args)
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return global_args, stages


def env_assignments(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.args_of("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", args):
            values[key] = value
    return values


@pytest.fixture(scope="module")
def dockerfile():
    return parse(DOCKERFILE.read_text())


def test_multi_stage_build_with_a_slim_python_base(dockerfile):
    global_args, stages = dockerfile
    assert [stage.name for stage in stages] == ["builder", "runtime"]
    assert any(re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim\S*", arg) for arg in global_args)
    assert all(stage.base == "${PYTHON_IMAGE}" for stage in stages)
    builder, runtime = stages
    # the builder installs the wheel and its pinned dependencies into a venv ...
    builder_runs = " ".join(builder.args_of("RUN"))
    assert "python -m venv /opt/venv" in builder_runs
    assert "pip wheel --no-deps --wheel-dir /wheels ." in builder_runs
    assert "/opt/venv/bin/pip install /wheels/adaptive_trial-*.whl" in builder_runs
    # ... and the runtime only copies the results: no compiler, no sources, no pip install
    copies = runtime.args_of("COPY")
    assert "--from=builder /opt/venv /opt/venv" in copies
    assert "--from=builder /app/staticfiles /app/staticfiles" in copies
    assert all(args.startswith("--from=builder ") for args in copies)
    assert not any("pip install" in args for args in runtime.args_of("RUN"))


def test_builder_copies_only_paths_that_exist_and_the_build_context_keeps(dockerfile):
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    builder = dockerfile[1][0]
    for args in builder.args_of("COPY"):
        *sources, _destination = args.split()
        for source in sources:
            assert (BASE_DIR / source).exists(), source
            assert source not in ignored, source


def test_runtime_runs_as_a_fixed_non_root_user(dockerfile):
    runtime = dockerfile[1][-1]
    users = runtime.args_of("USER")
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    # numeric, so the kubelet can enforce runAsNonRoot without reading /etc/passwd
    assert uid.isdigit() and int(uid) > 0
    assert gid.isdigit() and int(gid) > 0
    keywords = [keyword for keyword, _ in runtime.instructions]
    assert keywords.index("USER") < keywords.index("CMD")
    assert keywords.count("USER") == 1


def test_static_files_are_collected_at_build_without_weakening_the_runtime(dockerfile):
    builder, runtime = dockerfile[1]
    collect = next(args for args in builder.args_of("RUN") if "collectstatic" in args)
    assert "TRIAL_ENV=production" in collect
    assert "secrets.token_urlsafe(50)" in collect  # a throwaway key, different every build
    assert "STATIC_ROOT=/app/staticfiles" in collect
    for stage in (builder, runtime):
        assigned = set(env_assignments(stage)) | {a.split("=")[0] for a in stage.args_of("ARG")}
        assert not assigned & {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DATABASE_URL"}, assigned
    env = env_assignments(runtime)
    assert env["TRIAL_ENV"] == "production"
    assert env["STATIC_ROOT"] == "/app/staticfiles"


def test_gunicorn_sync_workers_with_persistent_database_connections(dockerfile):
    runtime = dockerfile[1][-1]
    assert not runtime.args_of("ENTRYPOINT")
    command = json.loads(runtime.args_of("CMD")[-1])  # exec form: signals reach gunicorn
    assert command[:2] == ["gunicorn", "deploy.wsgi"]
    assert command[command.index("--worker-class") + 1] == "sync"
    assert command[command.index("--bind") + 1] == "0.0.0.0:8000"
    env = env_assignments(runtime)
    assert int(env["CONN_MAX_AGE"]) > 0
    assert int(env["WEB_CONCURRENCY"]) >= 2
    assert env["LOG_FORMAT"] == "json"
    assert "8000" in runtime.args_of("EXPOSE")


def test_healthcheck_calls_the_liveness_probe(dockerfile):
    runtime = dockerfile[1][-1]
    (healthcheck,) = runtime.args_of("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    assert "http://127.0.0.1:8000/health/live" in " ".join(json.loads(command))


def test_build_time_collectstatic_succeeds_with_the_manifest_storage(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "TRIAL_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "build.invalid",
        "TRIAL_VAR_DIR": str(tmp_path / "build-var"),
        "STATIC_ROOT": str(tmp_path / "staticfiles"),
        "DJANGO_SETTINGS_MODULE": "deploy.settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles" / "staticfiles.json").read_text())
    assert "admin/css/base.css" in manifest["paths"]
    assert any(path.startswith("drf_spectacular_sidecar/") for path in manifest["paths"])


def _tracked_data_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", *PACKAGES],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        path
        for path in listed
        if not path.endswith(".py")
        and not path.startswith(("deploy/helm/", "deploy/scripts/"))
        and path not in {"deploy/Dockerfile", "deploy/compose.yaml", "deploy/env.example"}
        and (BASE_DIR / path).exists()
    }


@pytest.mark.integration
def test_the_wheel_the_builder_installs_carries_every_data_file(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(BASE_DIR / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            BASE_DIR / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("adaptive_trial-*.whl")
    contents = set(zipfile.ZipFile(wheel).namelist())
    missing = _tracked_data_files() - contents
    assert not missing, f"data files the image would lack (add them to package-data): {missing}"
    assert "trial/protocols/pada1.yaml" in contents
    assert "trial/locale/fr/LC_MESSAGES/django.mo" in contents
