from django.apps import AppConfig


class TrustConfig(AppConfig):
    name = "trust"
    verbose_name = "Trusts and ledger"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate, pre_migrate

        from trust import checks, db, sessions  # noqa: F401 (importing checks registers them)
        from trust.audit import signin

        signin.connect()
        sessions.connect()

        connection_created.connect(db.register_sqlite_functions, dispatch_uid="trust-sqlite-fns")
        # SQLite drops a table's triggers when a migration rebuilds it: put them back every time.
        pre_migrate.connect(db.drop_before_migrate, sender=self, dispatch_uid="trust-drop-triggers")
        post_migrate.connect(db.reinstall_after_migrate, sender=self, dispatch_uid="trust-triggers")
