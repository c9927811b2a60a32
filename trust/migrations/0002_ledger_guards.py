"""Database guards for the ledger: immutability, closed periods, balanced entries (PostgreSQL),
and the posting function. The SQL lives in ``trust/db.py`` and is reinstalled after every migrate,
because SQLite drops a table's triggers when a migration rebuilds it."""

from django.db import migrations


def install(apps, schema_editor):
    from trust.db import install_ledger_database_objects

    install_ledger_database_objects(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("trust", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
