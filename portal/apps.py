from django.apps import AppConfig
from django.urls import register_converter
from django.utils.translation import gettext_lazy as _

from portal.converters import DatabaseId


class PortalConfig(AppConfig):
    """The project itself: its checks, its URL converter, the demo command, and the
    migrations of the models that lived here before they moved into the apps."""

    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        from portal import checks  # noqa: F401 - registers the checks

        # Every id in an address goes through one converter: out of range is a 404, not a 500.
        register_converter(DatabaseId, "id")
