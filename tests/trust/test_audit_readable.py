"""Audit events as people read them (trust.audit.readable): amounts in their currency, changes as
before -> after, long lists counted, never a raw dictionary in cents."""

from __future__ import annotations

import json

from trust.audit.readable import MAX_LINES, summarise


def test_minor_units_are_shown_as_money_in_the_events_currency() -> None:
    summary = summarise({"amount_minor": 123450, "currency": "USD", "reserve_minor": 5000})
    assert summary.lines == [("Amount", "1,234.50 USD"), ("Reserve", "50.00 USD")]
    assert not summary.more


def test_money_objects_and_changes_read_as_before_and_after() -> None:
    summary = summarise(
        {
            "status": {"before": "submitted", "after": "approved"},
            "threshold": {
                "before": {"amount": "5000.00", "currency": "USD"},
                "after": {"amount": "1000.00", "currency": "USD"},
            },
            "active": True,
        }
    )
    assert summary.lines == [
        ("Status", "submitted → approved"),
        ("Threshold", "5,000.00 USD → 1,000.00 USD"),
        ("Active", "yes"),
    ]


def test_a_receipt_shared_among_ten_thousand_children_is_counted_not_printed() -> None:
    shares = [{"beneficiary": n, "amount_minor": 100} for n in range(10_000)]
    summary = summarise({"shares": shares, "currency": "USD"})
    assert summary.lines == [("Shares", "10,000 items")]
    assert summary.more  # the event's own page has it whole
    assert len(repr(summary)) < 200


def test_at_most_a_dozen_lines_and_long_text_is_cut() -> None:
    summary = summarise({f"field_{n}": n for n in range(30)} | {"memo": "x" * 500})
    assert len(summary.lines) == MAX_LINES and summary.more
    assert summarise({"memo": "x" * 500}).lines[0][1].endswith("…")


def test_a_minor_amount_without_a_currency_stays_a_number() -> None:
    assert summarise({"amount_minor": 150}).lines == [("Amount", "150")]


def test_a_large_event_in_a_list_is_decoded_without_its_changes() -> None:
    from trust.audit.canonical import canonical
    from trust.audit.selectors import LIST_DECODE_BYTES, _decode_for_list

    record = {
        "action": "receipt.recorded",
        "actor": {"id": 1, "username": "t"},
        "at": "2026-01-01T00:00:00Z",
        "changes": {"shares": [{"object": {"id": n}, "amount_minor": n} for n in range(2_000)]},
        "object": {"id": "7", "type": "receipt"},
        "reason": 'a "quoted", reason',
        "trust": 3,
        "v": 1,
    }
    data = canonical(record)
    assert len(data) > LIST_DECODE_BYTES
    decoded, whole = _decode_for_list(data)
    assert not whole and "changes" not in decoded
    assert {k: v for k, v in record.items() if k != "changes"} == decoded
    small = canonical({**record, "changes": {"status": "paid"}})
    assert _decode_for_list(small) == (json.loads(small), True)
