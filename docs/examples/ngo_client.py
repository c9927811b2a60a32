"""An NGO's case system and the trust's ledger, through the API (docs/api.md, worked example).

As the caseworker's token: list the children in the partner's care, draft a request for one with
an invoice, submit it, poll until the trustees have approved and paid it, then say what arrived.
Every POST carries an Idempotency-Key, so that a retry after a timeout is safe; the draft is
sent twice here to show it: the second answer is the first one again.

    python docs/examples/ngo_client.py http://127.0.0.1:8000 <token> invoice.pdf

Needs only httpx. ``tests/api/test_worked_example.py`` runs it against a live server while a
trustee approves and pays.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.is_error:
        problem = response.json()  # application/problem+json: a stable code, and what was wrong
        raise RuntimeError(f"{response.status_code} {problem['code']}: {problem['detail']}")
    return response.json()


def ask_and_follow(
    base_url: str,
    token: str,
    invoice: bytes,
    *,
    amount: str = "150.00",
    poll_seconds: float = 1.0,
    give_up_after: float = 120.0,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the whole exchange; returns the request as the ledger has it at the end."""
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
        # 1. The children in our care, with what each has (a caseworker sees no one else).
        children = _ok(api.get("/api/v1/beneficiaries/"))["results"]
        child = children[0]
        say(f"{child['pseudonym']}: {child['balance']} {child['balance_currency']} held")

        # 2. A draft, sent twice with one key (as after a timeout): one request is made.
        draft = {
            "beneficiary": child["id"],
            "category": "education",
            "amount": amount,
            "amount_currency": child["balance_currency"],
            "purpose": "School fees, term 2",
        }
        key = str(uuid.uuid4())
        first = _ok(api.post("/api/v1/requests/", json=draft, headers={"Idempotency-Key": key}))
        again = api.post("/api/v1/requests/", json=draft, headers={"Idempotency-Key": key})
        assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first
        number = first["id"]
        say(f"request #{number} drafted: {first['amount']} {first['amount_currency']}")

        # 3. The invoice, then submit.
        _ok(
            api.post(
                f"/api/v1/requests/{number}/documents/",
                data={"kind": "invoice"},
                files={"file": ("invoice.pdf", invoice, "application/pdf")},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
        )
        submitted = _ok(
            api.post(
                f"/api/v1/requests/{number}/submit/",
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
        )
        say(f"request #{number} submitted; waits for: {submitted['waits_for']}")

        # 4. Poll until the trustees have approved and paid (or refused).
        deadline = time.monotonic() + give_up_after
        while True:
            found = _ok(api.get(f"/api/v1/requests/{number}/"))
            if found["status"] in ("paid", "rejected", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"request #{number} still {found['status']}")
            time.sleep(poll_seconds)
        if found["status"] != "paid":
            say(f"request #{number} {found['status']}")
            return found
        payment = found["payment"]
        say(f"paid: {payment['payout']} {payment['payout_currency']} on its way")

        # 5. What arrived: here, all of it.
        done = _ok(
            api.post(
                f"/api/v1/requests/{number}/acknowledge/",
                json={
                    "arrived": payment["payout"],
                    "arrived_currency": payment["payout_currency"],
                },
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
        )
        final = _ok(api.get(f"/api/v1/requests/{number}/"))
        say(
            f"request #{number} {final['status']}: {done['arrived']} {done['arrived_currency']} arrived"
        )
        return final


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    base, token, invoice_path = sys.argv[1:]
    ask_and_follow(base, token, Path(invoice_path).read_bytes())
