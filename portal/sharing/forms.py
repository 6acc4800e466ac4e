"""The form a patient shares an exam with."""

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.sharing.shares import DEFAULT_EXPIRY


class ShareForm(forms.Form):
    expiry = forms.ChoiceField(
        label=_("Link valid for"),
        choices=[("1h", _("1 hour")), ("24h", _("24 hours")), ("7d", _("7 days")), ("30d", _("30 days"))],
        initial=DEFAULT_EXPIRY,
    )
    with_code = forms.BooleanField(label=_("Ask for an access code"), required=False, initial=True)
    include_report = forms.BooleanField(label=_("Include the report"), required=False, initial=True)
    allow_download = forms.BooleanField(
        label=_("Allow downloading the images (also into the doctor's own viewer, over DICOMweb)"),
        required=False,
        initial=False,
    )
    show_full_name = forms.BooleanField(
        label=_("Show my full name (otherwise only my family name and *)"), required=False, initial=False
    )
    notify_on_open = forms.BooleanField(label=_("Text me when the link is first opened"), required=False, initial=True)
