"""A read-only admin over the index: the index changes only through ingest."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from imaging.models import (
    Hospital,
    HospitalAETitle,
    IngestConflict,
    Instance,
    PatientRecord,
    Report,
    Series,
    Study,
)


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AETitleInline(admin.TabularInline[HospitalAETitle, Hospital]):
    """Each AE title with the networks it may send from and, for DICOM TLS, its client certificate."""

    model = HospitalAETitle
    extra = 1
    fields = ["ae_title", "allowed_networks", "tls_certificate_sha256", "commitment_port"]
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 24})}}


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin[Hospital]):
    """Hospitals are managed here (and by `add_hospital`); the rest is read-only."""

    list_display = ["code", "name", "film_price", "currency"]
    search_fields = ["code", "name"]
    inlines = [AETitleInline]


@admin.register(PatientRecord)
class PatientRecordAdmin(ReadOnlyAdmin):
    list_display = ["patient_id", "hospital", "name", "sex", "birth_date"]
    list_filter = ["hospital"]
    search_fields = ["patient_id", "name"]
    list_select_related = ["hospital"]


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin):
    list_display = ["study_date", "hospital", "patient", "modalities", "description", "number_of_images"]
    list_filter = ["hospital", "study_date"]
    search_fields = ["study_uid", "accession_number", "patient__patient_id"]
    list_select_related = ["hospital", "patient__hospital"]
    date_hierarchy = "study_date"


@admin.register(Series)
class SeriesAdmin(ReadOnlyAdmin):
    list_display = ["series_uid", "modality", "series_number", "description", "number_of_instances"]
    search_fields = ["series_uid"]
    raw_id_fields = ["study"]


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = ["sop_uid", "instance_number", "rows", "columns", "transfer_syntax_uid", "size_bytes"]
    search_fields = ["sop_uid"]
    raw_id_fields = ["series"]


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["study", "kind", "title", "created_at"]
    raw_id_fields = ["study", "instance"]


@admin.register(IngestConflict)
class IngestConflictAdmin(ReadOnlyAdmin):
    list_display = ["sop_uid", "hospital", "reason", "source", "created_at"]
    list_filter = ["hospital"]
