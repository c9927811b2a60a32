"""A database that is away is a 503 with ``Retry-After``, never a 500 with a traceback: the page,
the API's problem document, and the same when the fault comes from middleware (loading the user).
On any database, by making the database's error happen; the real outage on PostgreSQL is in
``tests/trust/test_db_faults.py``."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth.backends import ModelBackend
from django.db import InterfaceError, OperationalError
from django.test import Client

from trust.db_faults import RETRY_AFTER_SECONDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(settings: Any, tmp_path: Any, django_user_model: Any) -> Client:
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    settings.DEBUG = False
    client = Client()
    client.force_login(django_user_model.objects.create_user("someone"))
    client.raise_request_exception = False
    return client


def away(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("connection failed: Connection refused")


def test_a_page_whose_view_finds_the_database_away_is_a_503(
    signed_in: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from trust.views import trusts as views

    monkeypatch.setattr(views, "render", away)
    response = signed_in.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "Unavailable for a moment" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    lines = [r for r in caplog.records if r.name == "trust.db_faults"]
    assert len(lines) == 1 and "OperationalError" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_the_database_away_while_the_user_is_loaded_is_a_503_too(
    signed_in: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Middleware (before any view) loads the user: handler500 gives the same answer."""
    monkeypatch.setattr(ModelBackend, "get_user", away)
    response = signed_in.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "Unavailable for a moment" in response.content.decode()


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_the_api_answers_a_problem_with_retry_after(
    signed_in: Client, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    from trust.api.trusts import TrustViewSet

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error("server closed the connection unexpectedly")

    monkeypatch.setattr(TrustViewSet, "get_queryset", broken)
    response = signed_in.get("/api/v1/trusts/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["status"], body["retry_after"]) == (
        "database_unavailable",
        503,
        RETRY_AFTER_SECONDS,
    )


def test_another_error_is_still_a_500(
    signed_in: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from trust.views import trusts as views

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "render", broken)
    caplog.set_level(logging.INFO)
    response = signed_in.get("/")
    assert response.status_code == 500
    assert "Retry-After" not in response
