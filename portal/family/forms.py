"""The forms of the family pages."""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.family import CHILD_UNTIL_AGE
from accounts.forms import CodeForm, PhoneForm


class LabelField(forms.CharField):
    def __init__(self) -> None:
        super().__init__(
            label=_("What you call them"),
            max_length=24,
            help_text=_("For example “Mum” or “Lily”. Only you see it."),
        )


class AdultForm(PhoneForm):
    label = LabelField()
    field_order = ["label", "phone"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["phone"].label = _("Their mobile number")
        self.fields["phone"].widget.attrs.pop("autofocus", None)


class ChildForm(forms.Form):
    label = LabelField()
    child_name = forms.CharField(label=_("The child's full name, as the hospital has it"), max_length=100)
    birth_date = forms.DateField(label=_("Date of birth"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean_birth_date(self) -> dt.date:
        born: dt.date = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError(_("The date of birth is in the future."))
        if (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) >= CHILD_UNTIL_AGE:
            raise forms.ValidationError(
                _("Only a child under 18 is added at the desk. An adult consents from their own phone.")
            )
        return born


class ConsentCodeForm(CodeForm):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].label = _("The code your family member received")
        self.fields["code"].widget.attrs["autocomplete"] = "off"  # not this phone's own SMS
