"""Fuzz the REST API from its own OpenAPI schema: no 5xx on any input, and responses match the schema.

Requests go in-process through the WSGI app, as a superuser (so the fuzzer
reaches the services, not just the permission checks); path ids mostly point at
an existing election tree. The number of examples per operation is bounded so
the whole file runs in a minute or two (FUZZ_EXAMPLES to change).
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from config.wsgi import application

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: the WSGI request must not close the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def superuser_token(django_user_model, settings, keep_test_connection):
    from rest_framework.authtoken.models import Token

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = django_user_model.objects.create_superuser(username="fuzzer", password="pw-Secret-123")
    return user, Token.objects.create(user=user).key


def existing_ids(user) -> list[int]:
    from elections.models import Election
    from elections.services import create_election

    ids = list(Election.objects.values_list("pk", flat=True)[:5])
    if not ids:
        root = create_election(title="Fuzzed", created_by=user)
        child = create_election(title="Fuzzed child", parent=root, created_by=user)
        ids = [root.pk, child.pk]
    return ids


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_never_errors_and_conforms_to_its_schema(case, superuser_token):
    user, token = superuser_token
    if "id" in (case.path_parameters or {}):  # drf-spectacular names the <int:pk> parameter "id"
        generated = case.path_parameters["id"]
        ids = existing_ids(user)
        if not isinstance(generated, int) or generated % 4:  # three in four hit a real election
            case.path_parameters["id"] = ids[hash(str(generated)) % len(ids)]
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
