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
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ShareLink',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('token_hash', models.CharField(max_length=64, unique=True)),
                        ('code_hash', models.CharField(blank=True, max_length=64)),
                        ('code_salt', models.CharField(blank=True, max_length=32)),
                        ('include_report', models.BooleanField(default=True, verbose_name='include the report')),
                        ('allow_download', models.BooleanField(default=False, verbose_name='allow downloads')),
                        ('notify_on_open', models.BooleanField(default=True, verbose_name='text me when it is first opened')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('expires_at', models.DateTimeField(verbose_name='expires')),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('wrong_codes', models.PositiveSmallIntegerField(default=0)),
                        ('locked_until', models.DateTimeField(blank=True, null=True)),
                        ('locks', models.PositiveSmallIntegerField(default=0)),
                        ('suspended_at', models.DateTimeField(blank=True, null=True)),
                        ('lock_notice_at', models.DateTimeField(blank=True, null=True)),
                        ('opens', models.PositiveIntegerField(default=0)),
                        ('last_opened_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='shares', to=settings.AUTH_USER_MODEL)),
                        ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='shares', to='imaging.study')),
                    ],
                    options={
                        'verbose_name': 'shared link',
                        'verbose_name_plural': 'shared links',
                        'db_table': 'portal_sharelink',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='ShareOpen',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('network', models.CharField(blank=True, max_length=64, verbose_name='network')),
                        ('browser', models.CharField(blank=True, max_length=120, verbose_name='browser')),
                        ('share', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='openings', to='sharing.sharelink')),
                    ],
                    options={
                        'verbose_name': 'opening of a shared link',
                        'verbose_name_plural': 'openings of shared links',
                        'db_table': 'portal_shareopen',
                        'ordering': ['-created_at'],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
