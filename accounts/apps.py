from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from accounts import schema  # noqa: F401 - registers the OpenAPI extension
        from accounts.links import link_phones_from_header
        from accounts.signals import connect as connect_sign_in_signals
        from imaging.ingest import series_created

        series_created.connect(link_phones_from_header, dispatch_uid="accounts.link_phones_from_header")
        connect_sign_in_signals()
