"""Schemathesis against the API's own schema (/api/schema/), in process through WSGI, with the
tokens of a trustee, a caseworker and an auditor of a full trust (receipts, requests, payments):
no 5xx, every response (status, content type, body) matches the schema, and no operation answers
without authentication. Examples per operation: ``TRUST_SCHEMATHESIS_EXAMPLES`` (default 6)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import person
from tests.reports.scenario import build_case
from trust.roles import AUDITOR
from trust.services.tokens import token_create

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("TRUST_SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def tokens(settings: Any, tmp_path: Any) -> dict[str, str]:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100000/min", "address": "100000/min"},
    }
    case = build_case()
    auditor = person("schemathesis-auditor", AUDITOR, case.trust)
    return {
        who: token_create(actor=user, name=f"schemathesis {who}", scope="write")[1]
        for who, user in (
            ("trustee", case.world.trustee),
            ("caseworker", case.world.caseworker),
            ("auditor", auditor),
        )
    }


@pytest.fixture
def app() -> Any:
    """The site as WSGI, in this thread and this test's transaction (as Django's test client
    does, the handler must not close the connection at the end of each request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_matches_the_schema_for_every_role(
    tokens: dict[str, str], app: Any
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:
        check_operation(operation, tokens)


def check_operation(operation: Any, tokens: dict[str, str]) -> None:
    """Every role's token, and signed out, on generated calls of one operation."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        # Signed out, it must be refused (401) whatever was sent.
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error, ignored_auth])
        assert response.status_code == 401, f"{operation.label} answered signed out"
        for token in tokens.values():
            response = case.call(headers={"Authorization": f"Token {token}"})
            case.validate_response(response, checks=CHECKS)

    run()
