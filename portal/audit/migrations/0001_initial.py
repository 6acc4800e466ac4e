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
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('actor', models.CharField(choices=[('patient', 'patient'), ('staff', 'staff'), ('share', 'shared link'), ('anonymous', 'anonymous')], max_length=12)),
                        ('action', models.CharField(choices=[('sign_in', 'signed in'), ('study_list', 'listed exams'), ('study_view', 'opened an exam'), ('report_view', 'read a report'), ('viewer_open', 'opened the viewer'), ('thumbnails', 'loaded thumbnails'), ('previews', 'loaded images'), ('raw_values', 'loaded pixel values'), ('download_request', 'asked for a download'), ('download', 'downloaded'), ('share_create', 'shared an exam'), ('share_revoke', 'ended a shared link'), ('share_code_wrong', 'entered a wrong access code'), ('issue', 'issued an e-film'), ('issue_revoke', 'revoked an issuance'), ('staff_search', 'searched exams'), ('phone_confirm', 'confirmed a suggested phone number'), ('share_enable', 're-enabled a suspended shared link'), ('staff_new_device', 'signed in from a new device')], max_length=20)),
                        ('detail', models.JSONField(blank=True, default=dict)),
                        ('ip_address', models.GenericIPAddressField(blank=True, null=True)),
                        ('user_agent', models.CharField(blank=True, max_length=300)),
                        ('session_hash', models.CharField(blank=True, max_length=16)),
                        ('series', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='imaging.series')),
                        ('study', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='imaging.study')),
                        ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'audit event',
                        'verbose_name_plural': 'audit events',
                        'db_table': 'portal_auditevent',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['study', '-created_at'], name='audit_study_time'), models.Index(fields=['action', '-created_at'], name='audit_action_time')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
