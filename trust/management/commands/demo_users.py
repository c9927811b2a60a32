"""manage.py demo_users: the three demo logins (trustee, caseworker, auditor), printed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from trust.demo_logins import DEMO_LOGINS
from trust.roles import READERS

# Apps whose admin pages (all read-only) the demo trustee and auditor may view.
VIEWABLE_APPS = ("trust", "disbursements")


class Command(BaseCommand):
    help = "Create or reset the demo users and print their logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="allow on a production database")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_ALLOWED and not options["force"]:
            raise CommandError("Demo users are for the embedded demo only (TRUST_ALLOW_DEMO=1).")
        User = get_user_model()
        with transaction.atomic():
            for username, password, group_name, full_name in DEMO_LOGINS:
                group, _ = Group.objects.get_or_create(name=group_name)
                if group_name in READERS:
                    # The admin only looks (every write goes through the services): trustees
                    # and auditors may look at the ledger, orders, partners and requests there.
                    group.permissions.set(
                        Permission.objects.filter(
                            codename__startswith="view_", content_type__app_label__in=VIEWABLE_APPS
                        )
                    )
                user, _ = User.objects.get_or_create(username=username)
                first, _, last = full_name.partition(" ")
                user.first_name, user.last_name = first, last
                user.email = f"{username}@demo.invalid"
                user.is_staff = group_name in READERS
                user.set_password(password)
                user.save()
                user.groups.set([group])
        self.stdout.write("Demo logins (fictitious; for this demo only):")
        for username, password, group_name, _ in DEMO_LOGINS:
            self.stdout.write(f"  {group_name:<11} user: {username:<11} password: {password}")
