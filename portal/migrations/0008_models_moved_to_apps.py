# The product's models moved into the apps inside portal/ (issue 17): audit, exams, sharing,
# issuance. Their tables stay as they are (each model's Meta.db_table names its old table);
# this migration removes them from the `portal` app's migration state, and gives their
# content types (and so their permissions) the new app labels, ids unchanged.

from django.db import migrations

MOVED = {
    "auditevent": "audit",
    "download": "exams",
    "sharelink": "sharing",
    "shareopen": "sharing",
    "issuance": "issuance",
}


def relabel_content_types(apps, schema_editor, backwards=False):
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_types = ContentType.objects.using(schema_editor.connection.alias)
    for model, app_label in MOVED.items():
        old, new = (app_label, "portal") if backwards else ("portal", app_label)
        # A content type already made under the new label (by a run of post_migrate) stays; the old one is then stale.
        if not content_types.filter(app_label=new, model=model).exists():
            content_types.filter(app_label=old, model=model).update(app_label=new)
    ContentType.objects.clear_cache()


def relabel_content_types_back(apps, schema_editor):
    relabel_content_types(apps, schema_editor, backwards=True)


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0007_audit_new_device'),
        ('audit', '0001_initial'),
        ('exams', '0001_initial'),
        ('sharing', '0001_initial'),
        ('issuance', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # Those that point at others first.
                migrations.DeleteModel(name='Issuance'),
                migrations.DeleteModel(name='Download'),
                migrations.DeleteModel(name='ShareOpen'),
                migrations.DeleteModel(name='ShareLink'),
                migrations.DeleteModel(name='AuditEvent'),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, relabel_content_types_back),
    ]
