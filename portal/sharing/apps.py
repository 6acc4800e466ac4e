from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "portal.sharing"
    label = "sharing"
    verbose_name = _("Shared links")

    def ready(self) -> None:
        from accounts.family import link_ended
        from portal.sharing.shares import end_shares_through_family_link

        link_ended.connect(end_shares_through_family_link, dispatch_uid="sharing.end_shares_through_family_link")
