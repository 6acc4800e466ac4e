import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0006_instance_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="UnflushedFile",
            fields=[
                (
                    "instance",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="imaging.instance",
                    ),
                ),
            ],
            options={
                "verbose_name": "unflushed file",
                "verbose_name_plural": "unflushed files",
            },
        ),
    ]
