from django.db import migrations, models


def mark_instances_without_spacing(apps, schema_editor):
    """An empty spacing was empty in the file too (the reader fell back to Imager Pixel Spacing): kind "none".

    The others may hold either spacing: `backfill_pixel_spacing` reads their files.
    """
    Instance = apps.get_model("imaging", "Instance")
    Instance.objects.filter(pixel_spacing="").update(pixel_spacing_kind="none")


class Migration(migrations.Migration):

    dependencies = [
        ('imaging', '0012_study_patient_age'),
    ]

    operations = [
        migrations.AddField(
            model_name='instance',
            name='pixel_spacing_kind',
            field=models.CharField(blank=True, choices=[('patient', 'in the patient (Pixel Spacing)'), ('detector', 'at the detector (Imager Pixel Spacing)'), ('none', 'not given'), ('', 'not read yet')], max_length=8),
        ),
        migrations.RunPython(mark_instances_without_spacing, migrations.RunPython.noop),
    ]
