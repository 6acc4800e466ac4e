"""Forms of the staff workspace."""

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.phones import InvalidPhone, parse_mobile
from portal.issuance.models import FilmChoice


class StudySearchForm(forms.Form):
    mrn = forms.CharField(label=_("MRN"), required=False, max_length=64)
    accession = forms.CharField(label=_("Accession number"), required=False, max_length=64)
    name = forms.CharField(label=_("Patient name"), required=False, max_length=100)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    modality = forms.CharField(label=_("Modality"), required=False, max_length=16)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if isinstance(start, dt.date) and isinstance(end, dt.date) and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data


class IssueForm(forms.Form):
    phone = forms.CharField(
        label=_("Patient's mobile number"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    choice = forms.ChoiceField(label=_("The patient chose"), choices=FilmChoice.choices, initial=FilmChoice.EFILM)
    with_share = forms.BooleanField(label=_("Add a 30-day link for the next doctor"), required=False, initial=True)
    notify = forms.BooleanField(label=_("Text the patient that the exams are ready"), required=False, initial=True)

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone", "")
        if not raw:
            return ""
        try:
            return parse_mobile(raw)
        except InvalidPhone as error:
            raise forms.ValidationError(str(error)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("choice") in (FilmChoice.EFILM, FilmChoice.BOTH)
            and not data.get("phone")
            and "phone" not in self.errors
        ):
            self.add_error("phone", _("An e-film needs the patient's mobile number."))
        return data


class BulkUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file (mrn, accession, phone, choice)"))


class DeskCodeForm(forms.Form):
    desk_code = forms.CharField(
        label=_("Desk code the guardian shows"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "autofocus": True}),
    )


class GuardianConfirmForm(forms.Form):
    """The child's records of the staff member's hospitals, and the staff member's word on the documents."""

    desk_code = forms.CharField(max_length=16, widget=forms.HiddenInput)
    records: "forms.ModelMultipleChoiceField[Any]" = forms.ModelMultipleChoiceField(
        label=_("The child's records at your hospital"), queryset=None, widget=forms.CheckboxSelectMultiple
    )
    checked = forms.BooleanField(
        label=_(
            "I have seen the guardian's identity card and a document showing guardianship "
            "(household register or birth certificate)."
        )
    )

    def __init__(self, records: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["records"].queryset = records  # type: ignore[attr-defined]
        self.fields["records"].label_from_instance = _record_label  # type: ignore[attr-defined]


def _record_label(record: Any) -> str:
    born = record.birth_date.isoformat() if record.birth_date else "?"
    return f"{record.patient_id} · {record.name.replace('^', ' ').strip()} · {born} · {record.hospital.name}"
