"""``manage.py second_factor_reset USERNAME --reason "..."``: remove a user's authenticator and
recovery codes (a lost phone); they enrol again at their next sign-in. Recorded in the audit trail.
An operator's command on the server: the web never shows or resets a second factor for another."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from trust.audit.events import audit_record


class Command(BaseCommand):
    help = "Remove a user's second factor (authenticator and recovery codes); recorded."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="Why (recorded): 'phone lost'.")

    def handle(self, *args: Any, username: str, reason: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if len(reason.strip()) < 5:
            raise CommandError("Say why the second factor is reset (at least 5 characters).")
        with transaction.atomic():
            removed = TOTPDevice.objects.filter(user=user).delete()[0]
            removed += StaticDevice.objects.filter(user=user).delete()[0]
            audit_record(
                action="second_factor.reset",
                actor=None,
                object_type="user",
                object_id=user.pk,
                changes={"devices_removed": removed},
                reason=reason.strip(),
            )
        self.stdout.write(f"{username}: second factor removed; they enrol again at next sign-in.")
