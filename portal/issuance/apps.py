from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IssuanceConfig(AppConfig):
    name = "portal.issuance"
    label = "issuance"
    verbose_name = _("Issuance")

    def ready(self) -> None:
        from portal.issuance.discharge import phone_of_issued_share
        from portal.sharing.shares import patient_phone_of_share

        # A share issued at discharge was made by a clerk: its patient's number is the issuance's.
        patient_phone_of_share.connect(phone_of_issued_share, dispatch_uid="issuance.phone_of_issued_share")
