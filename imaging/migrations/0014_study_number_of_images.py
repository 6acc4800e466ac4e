"""Study.number_of_images: the instances with pixel data, counted for the studies already held."""

from typing import Any

from django.db import migrations, models
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce


def count_images(apps: Any, schema_editor: Any) -> None:
    """One UPDATE: each study's instances with pixels, counted through its series."""
    Study = apps.get_model("imaging", "Study")
    Instance = apps.get_model("imaging", "Instance")
    images = (
        Instance.objects.filter(series__study=OuterRef("pk"))
        .order_by()
        .values("series__study")
        .annotate(n=Count("pk", filter=Q(has_pixels=True)))
        .values("n")
    )
    Study.objects.update(number_of_images=Coalesce(Subquery(images, output_field=IntegerField()), 0))


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0013_instance_pixel_spacing_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="number_of_images",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_images, migrations.RunPython.noop, elidable=True),
    ]
