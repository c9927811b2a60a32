"""docs/api.md's worked example, run as written: ``docs/examples/ngo_client.py`` (httpx) against a
live server, as an NGO's case system with its caseworker's token, while a trustee's system approves
and pays through the API when the request arrives."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from django.utils import timezone

from disbursements.models import DisbursementRequest
from tests.disbursements.test_requests import make_world
from tests.factories import clean_pdf
from trust.invariants import ledger_violations
from trust.services.tokens import token_create

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ngo_client.py"
PDF = clean_pdf()


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("ngo_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_worked_example_runs_against_a_live_server(
    live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    w = make_world()
    caseworker_token = token_create(actor=w.caseworker, name="NGO case system", scope="write")[1]
    trustee_token = token_create(actor=w.trustee, name="trustee office", scope="write")[1]
    said: list[str] = []
    outcome: dict[str, Any] = {}

    def ngo() -> None:
        try:
            outcome["final"] = _example().ask_and_follow(
                live_server.url,
                caseworker_token,
                PDF,
                poll_seconds=0.2,
                give_up_after=60,
                say=said.append,
            )
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=ngo)
    thread.start()
    # The trustee's side: when the request is submitted, approve it and record the bank's advice.
    trustee = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Token {trustee_token}"}, timeout=30
    )
    deadline = time.monotonic() + 60
    number = None
    while number is None and time.monotonic() < deadline and thread.is_alive():
        waiting = trustee.get("/api/v1/requests/", params={"status": "submitted"}).json()
        number = waiting["results"][0]["id"] if waiting["results"] else None
        time.sleep(0.2)
    assert number is not None, outcome.get("error") or said
    approved = trustee.post(f"/api/v1/requests/{number}/approve/")
    assert approved.status_code == 200, approved.text
    paid = trustee.post(
        f"/api/v1/requests/{number}/payment/",
        json={
            "transfer_reference": "TRF-WORKED-1",
            "value_date": timezone.localdate().isoformat(),
            "sent": "150.00",
            "sent_currency": "USD",
            "payout": "8400.00",
            "payout_currency": "PHP",
        },
    )
    assert paid.status_code == 201, paid.text
    thread.join(timeout=60)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    final = outcome["final"]
    assert final["status"] == "acknowledged"
    assert (
        final["payment"]["arrived"] == "8400.00" and final["payment"]["arrived_currency"] == "PHP"
    )
    assert said[0].startswith("MV-1: 1000.00 USD") and said[-1].endswith("8400.00 PHP arrived")
    request = DisbursementRequest.objects.get(pk=number)
    assert request.documents.count() == 1 and request.status == "acknowledged"
    assert DisbursementRequest.objects.count() == 1  # the retried draft made one request
    assert ledger_violations().violations == []
