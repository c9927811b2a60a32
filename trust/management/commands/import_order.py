"""manage.py import_order: record a restitution order (or an amended judgment) from a CSV file of
its lines. See docs/imports.md."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trust.models import RestitutionOrder, Trust
from trust.money import format_money, from_minor
from trust.services.imports.csv_rows import parse_amount, parse_currency, parse_date
from trust.services.imports.orders import order_import


def actor_for(username: str | None) -> Any | None:
    """The user an import is recorded as (``--actor``), or ``None``."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return user


def trust_for(trust_id: int) -> Trust:
    trust = Trust.objects.filter(pk=trust_id).first()
    if trust is None:
        raise CommandError(f"no trust with id {trust_id}")
    return trust


class Command(BaseCommand):
    help = (
        "Record a restitution order whose lines come from a CSV file (beneficiary, amount, "
        "currency, defendants; optionally liability), all or nothing. With --amends ORDER_ID it "
        "records the amended judgment as the order's next version. See docs/imports.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trust", type=int, required=True, help="the trust's id")
        parser.add_argument("--file", required=True, help="the CSV file of the order's lines")
        parser.add_argument("--court", default="", help="the court (required for a new order)")
        parser.add_argument(
            "--case-number", default="", help="the case number (required for a new order)"
        )
        parser.add_argument("--judgment-date", required=True, help="YYYY-MM-DD")
        parser.add_argument("--total", required=True, help="the total the judgment states")
        parser.add_argument("--currency", required=True, help="ISO code, e.g. USD")
        parser.add_argument("--document-reference", default="", help="e.g. 'ECF No. 87'")
        parser.add_argument(
            "--payment-terms", choices=RestitutionOrder.PaymentTerms.values, default=None
        )
        parser.add_argument("--schedule-note", default=None, help="the schedule, as stated")
        parser.add_argument("--first-payment-due", default=None, help="YYYY-MM-DD")
        parser.add_argument("--amends", type=int, default=None, help="id of the order amended")
        parser.add_argument("--reason", default="", help="why the order is amended")
        parser.add_argument("--actor", default=None, help="username the order is recorded as")

    def handle(self, *args: Any, **options: Any) -> None:
        trust = trust_for(options["trust"])
        actor = actor_for(options["actor"])
        try:
            currency = parse_currency(options["currency"], column="--currency")
            total = from_minor(parse_amount(options["total"], currency, column="--total"), currency)
            judgment_date = parse_date(options["judgment_date"], column="--judgment-date")
            first_due = (
                parse_date(options["first_payment_due"], column="--first-payment-due")
                if options["first_payment_due"]
                else None
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        amends = None
        if options["amends"] is not None:
            amends = RestitutionOrder.objects.filter(pk=options["amends"], trust=trust).first()
            if amends is None:
                raise CommandError(f"trust #{trust.pk} has no order with id {options['amends']}")
        elif not options["court"].strip() or not options["case_number"].strip():
            raise CommandError("a new order needs --court and --case-number")
        try:
            with open(options["file"], encoding="utf-8-sig", newline="") as handle:
                result = order_import(
                    trust=trust,
                    actor=actor,
                    rows=handle,
                    court=options["court"],
                    case_number=options["case_number"],
                    judgment_date=judgment_date,
                    total=total,
                    document_reference=options["document_reference"],
                    payment_terms=options["payment_terms"],
                    schedule_note=options["schedule_note"],
                    first_payment_due=first_due,
                    amends=amends,
                    reason=options["reason"],
                )
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        order = result.order
        assert order is not None
        what = f"order #{order.pk} (v{order.version}, {format_money(order.total)})"
        if result.created:
            self.stdout.write(self.style.SUCCESS(f"{result.created:,} lines recorded: {what}."))
        else:
            self.stdout.write(
                f"{result.already_recorded:,} lines already recorded as {what}; nothing changed."
            )
