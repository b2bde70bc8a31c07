"""Production settings: `check --deploy` is clean, HTTPS and cookies are locked down, logs are JSON.

Each case runs in a subprocess: settings are read once per process from its environment.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

SHOW_SETTINGS = """
import json
from deploy import settings as s
print(json.dumps({name: getattr(s, name, None) for name in (
    "DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF", "LOG_FORMAT")}))
"""


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV"}
    }
    env["TRIAL_VAR_DIR"] = str(tmp_path / "var")
    env.update(overrides)
    return env


def _production(tmp_path: Path, **overrides: str) -> dict[str, str]:
    production = {
        "TRIAL_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "trial.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://trial.example.org",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    return _env(tmp_path, **{**production, **overrides})


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_locks_down_https_cookies_and_hosts_and_logs_json(tmp_path):
    result = _run(["-c", SHOW_SETTINGS], _production(tmp_path))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["trial.example.org"],
        "CSRF_TRUSTED_ORIGINS": ["https://trial.example.org"],
        "SECURE_SSL_REDIRECT": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_HSTS_SECONDS": 31536000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "LOG_FORMAT": "json",
    }


def test_local_default_logs_text_and_log_format_is_validated(tmp_path):
    result = _run(["-c", SHOW_SETTINGS], _env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["LOG_FORMAT"] == "text"

    result = _run(["-c", SHOW_SETTINGS], _env(tmp_path, LOG_FORMAT="xml"))
    assert result.returncode != 0
    assert "LOG_FORMAT must be 'json' or 'text'" in result.stderr


def test_production_refuses_to_start_without_a_secret_key_or_hosts(tmp_path):
    result = _run(["-c", SHOW_SETTINGS], _production(tmp_path, SECRET_KEY=""))
    assert "production needs SECRET_KEY" in result.stderr
    result = _run(["-c", SHOW_SETTINGS], _production(tmp_path, ALLOWED_HOSTS="*"))
    assert "production needs ALLOWED_HOSTS" in result.stderr
