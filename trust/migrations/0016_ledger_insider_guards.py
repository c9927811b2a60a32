"""Issue 22, part A: the ledger's guards against an insider with the application's database role.

PostgreSQL: the commit-time balance check keeps its state in ``ledger_private.pending_check`` (a
schema the application's role has no rights in) instead of a setting any session could SET, and
TRUNCATE of the ledger's and the trail's tables is refused by statement triggers. The SQL lives in
``trust/db.py``; the ``post_migrate`` hook reinstalls it after every ``migrate`` as well. SQLite
has no deferred triggers and no TRUNCATE: nothing changes there.
"""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from trust.db import install_ledger_database_objects

    install_ledger_database_objects(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("trust", "0015_child_data_keys_retention")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
