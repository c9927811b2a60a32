"""Database guards for the ledger: immutability, closed periods, balanced entries (PostgreSQL),
and the posting function. The SQL lives in ``trust/db.py``.

On SQLite the triggers are installed after every ``migrate`` (``post_migrate``) and dropped before it
(``pre_migrate``): SQLite rebuilds a table to alter it, and a trigger naming a table being rebuilt
breaks the rebuild. On PostgreSQL they are installed here, and refreshed after every ``migrate``.
"""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from trust.db import install_ledger_database_objects

    install_ledger_database_objects(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("trust", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
