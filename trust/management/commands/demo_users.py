"""manage.py demo_users: the demo logins (two trustees, two caseworkers, an auditor), printed.

The trustees and the auditor are appointed to every demo trust (an appointment, recorded in the
audit trail, the first time); the caseworkers are placed with their care partners by
``demo_disbursements``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from trust.demo import DEMO_COURT
from trust.demo_logins import DEMO_LOGINS
from trust.models import Appointment, Trust
from trust.roles import APPOINTED, AUDITOR, TRUSTEE
from trust.services.appointments import appointment_create


class Command(BaseCommand):
    help = "Create or reset the demo users, appoint them to the demo trusts, print their logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="allow on a production database")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_ALLOWED and not options["force"]:
            raise CommandError("Demo users are for the embedded demo only (TRUST_ALLOW_DEMO=1).")
        User = get_user_model()
        trusts = list(Trust.objects.filter(court=DEMO_COURT).order_by("pk"))
        with transaction.atomic():
            for username, password, role, full_name in DEMO_LOGINS:
                user, _ = User.objects.get_or_create(username=username)
                first, _, last = full_name.partition(" ")
                user.first_name, user.last_name = first, last
                user.email = f"{username}@demo.invalid"
                # The admin only looks (every write goes through the services), scoped like the
                # pages: trustees and the auditor may look around there.
                user.is_staff = role in (TRUSTEE, AUDITOR)
                user.set_password(password)
                user.save()
                if role not in APPOINTED:
                    continue
                for trust in trusts:
                    if not Appointment.objects.filter(user=user, trust=trust, role=role).exists():
                        appointment_create(
                            trust=trust, user=user, role=role, actor=None, reference="demo"
                        )
        self.stdout.write("Demo logins (fictitious; for this demo only):")
        for username, password, role, _ in DEMO_LOGINS:
            self.stdout.write(f"  {role:<11} user: {username:<12} password: {password}")
        if not trusts:
            self.stdout.write("No demo trust yet: run `manage.py seed_demo`, then this again.")
