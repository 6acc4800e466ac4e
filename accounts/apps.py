from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from accounts import checks, schema  # noqa: F401 - registers the system check and the OpenAPI extension
        from accounts.links import suggest_phones_from_header
        from accounts.signals import connect as connect_sign_in_signals
        from imaging.ingest import series_created

        series_created.connect(suggest_phones_from_header, dispatch_uid="accounts.suggest_phones_from_header")
        connect_sign_in_signals()
