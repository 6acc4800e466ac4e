# The model lived in the `portal` app until the apps inside portal/ (issue 17): its table is
# kept (Meta.db_table) and this migration only tells the migration state so. Nothing in the
# database changes; portal/migrations/0008_models_moved_to_apps removes the old state.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('portal', '0007_audit_new_device'),
        ('sharing', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Download',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('jpeg', 'images as JPEG'), ('dicom', 'original DICOM files')], max_length=8)),
                        ('preset', models.CharField(blank=True, max_length=16)),
                        ('status', models.CharField(choices=[('preparing', 'preparing'), ('ready', 'ready'), ('failed', 'failed')], default='preparing', max_length=10)),
                        ('storage_key', models.CharField(blank=True, max_length=255)),
                        ('size_bytes', models.BigIntegerField(default=0)),
                        ('files', models.PositiveIntegerField(default=0)),
                        ('error', models.CharField(blank=True, max_length=300)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('share', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='downloads', to='sharing.sharelink')),
                        ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='downloads', to='imaging.study')),
                    ],
                    options={
                        'verbose_name': 'download',
                        'verbose_name_plural': 'downloads',
                        'db_table': 'portal_download',
                        'ordering': ['-created_at'],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
