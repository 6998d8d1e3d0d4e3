"""docker-compose.yml is secure by default behind its proxy: Django's deployment checklist passes.

The app's environment is read from the compose file, interpolated as compose does
(``${NAME:-default}``, ``${NAME:?message}``) with only ``SECRET_KEY`` given, and
``manage.py check --deploy`` runs with it. The documented no-TLS switches turn it off.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "compose-test-" + "k" * 50
NO_TLS = {"SECURE_COOKIES": "0", "SECURE_SSL_REDIRECT": "0", "HSTS_SECONDS": "0",
          "TRUST_X_FORWARDED_PROTO": "0"}
SHOWN = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
         "SECURE_PROXY_SSL_HEADER", "DEBUG")


def compose_environment(**given: str) -> dict[str, str]:
    """The app services' environment, with ``given`` as the shell's variables."""
    app_env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app"]["environment"]

    def interpolate(match: re.Match) -> str:
        name, operator, word = match.groups()
        if given.get(name):
            return given[name]
        assert operator != ":?", f"compose refuses to start without {name}: {word}"
        return word

    pattern = re.compile(r"\$\{(\w+)(:-|:\?)([^}]*)\}")
    return {key: pattern.sub(interpolate, str(value)) for key, value in app_env.items()}


def run_django(environment: dict[str, str], tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL")}
    env.update(environment)
    env.update({"DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def settings_under(environment, tmp_path) -> dict:
    script = ("import django, json; django.setup(); from django.conf import settings; "
              f"print(json.dumps({{n: getattr(settings, n, None) for n in {SHOWN!r}}}))")
    result = run_django(environment, tmp_path, "-c", script)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_compose_defaults_pass_djangos_deployment_checklist(tmp_path):
    environment = compose_environment(SECRET_KEY=SECRET_KEY)
    # HSTS includeSubDomains (W005) and preload (W021) bind every other site of the operator's
    # domain to HTTPS, for good: theirs to decide, not this app's default.
    result = run_django(environment, tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
                        "--tag", "security")
    warnings = set(re.findall(r"\((security\.W\d+)\)", result.stdout + result.stderr))
    assert warnings <= {"security.W005", "security.W021"}, result.stdout + result.stderr
    assert settings_under(environment, tmp_path) == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000, "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "DEBUG": False}


def test_without_tls_the_documented_switches_turn_it_off(tmp_path):
    environment = compose_environment(SECRET_KEY=SECRET_KEY, **NO_TLS)
    assert settings_under(environment, tmp_path) == {
        "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False, "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0, "SECURE_PROXY_SSL_HEADER": None, "DEBUG": False}
    documented = (ROOT / "docker-compose.yml").read_text()
    assert all(f"{name}={value}" in documented for name, value in NO_TLS.items())


def test_the_image_collects_static_files_at_build_without_keeping_a_secret_key():
    # DEBUG is off in the image: whitenoise serves only STATIC_ROOT, and the migrate
    # service's collectstatic lands in its own container, not in web's.
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    build = " ".join(line for line in dockerfile if "collectstatic" in line)
    assert "collectstatic" in build and "SECRET_KEY=" in build
