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
                    name='Issuance',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('phone', models.CharField(blank=True, max_length=20, verbose_name='mobile number')),
                        ('choice', models.CharField(choices=[('efilm', 'e-film'), ('print', 'printed film'), ('both', 'both')], max_length=8, verbose_name="the patient's choice")),
                        ('issued_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('hospital', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='issuances', to='imaging.hospital')),
                        ('issued_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('patient_record', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='issuances', to='imaging.patientrecord')),
                        ('phone_link', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.phonelink')),
                        ('replaces', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='replaced_by', to='issuance.issuance')),
                        ('share', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='sharing.sharelink')),
                        ('studies', models.ManyToManyField(related_name='issuances', to='imaging.study')),
                    ],
                    options={
                        'verbose_name': 'issuance',
                        'verbose_name_plural': 'issuances',
                        'db_table': 'portal_issuance',
                        'ordering': ['-issued_at'],
                        'indexes': [models.Index(fields=['hospital', 'issued_at'], name='issuance_hospital_time')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
