"""Fewer indexes to update on every ingested instance.

- series_id: instance_series_order (series_id, slice_position, instance_number)
  serves every lookup by series.
- PostgreSQL's `..._like` indexes (varchar_pattern_ops) that Django adds beside
  the unique ones on sop_uid and storage_key: nothing matches those by prefix.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def drop_pattern_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'imaging_instance' AND indexname LIKE %s",
            ["%\\_like"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0005_issuance"),
    ]

    operations = [
        migrations.AlterField(
            model_name="instance",
            name="series",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="instances",
                to="imaging.series",
            ),
        ),
        migrations.RunPython(drop_pattern_indexes, migrations.RunPython.noop),
    ]
