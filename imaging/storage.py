"""Where DICOM objects and renders live: Django's storage API, written atomically.

Keys name what they hold. A DICOM object is stored under
`dicom/<study>/<series>/<sop>.<sha256 prefix>.dcm`, so different bytes under one
SOPInstanceUID can never overwrite each other and two writers of the same bytes
write the same file.
"""

import os
import tempfile
from typing import Any

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage


def dicom_key(study_uid: str, series_uid: str, sop_uid: str, sha256: str) -> str:
    return f"dicom/{study_uid}/{series_uid}/{sop_uid}.{sha256[:16]}.dcm"


class AtomicFileSystemStorage(FileSystemStorage):
    """A filesystem storage whose files appear whole or not at all.

    Content goes to a temporary file in the target directory, is flushed to disk,
    then linked into place; `os.link` fails when the name exists, so a file is
    never overwritten and a reader never sees half of one. A name that exists is
    kept, not renamed: keys are deterministic and the caller decides.
    """

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name

    def _save(self, name: str, content: File[Any]) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                if hasattr(content, "seek"):
                    content.seek(0)
                for chunk in content.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o640)
            os.link(temporary, full_path)
        finally:
            os.unlink(temporary)
        _fsync_directory(directory)
        return name


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
