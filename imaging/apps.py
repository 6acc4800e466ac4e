import logging
import warnings

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = _("Regional imaging index")

    def ready(self) -> None:
        import pydicom.config

        # We are a lenient receiver: an odd value in an optional attribute is not
        # a reason to refuse an image, nor to fill the logs. pydicom sets its own
        # logger's level on import, after Django's LOGGING, so it is set here.
        pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
        # Its decoders log every plugin that fails before one succeeds.
        logging.getLogger("pydicom").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom\..*")

        from imaging.ingest import instance_stored
        from imaging.rendering import schedule_renders

        instance_stored.connect(schedule_renders, dispatch_uid="imaging.schedule_renders")
