"""Orthanc (Debian's `orthanc`, with `orthanc-dicomweb` for DICOMweb) as a test's peer, on loopback ports of its own.

Each run gets its own JSON configuration and storage folder; nothing listens
beyond 127.0.0.1, and the process ends with the fixture that started it.
"""

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import background, free_port, wait_for_port
from tests.support.services import require

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
DICOMWEB_ROOT = "/dicom-web"


def require_orthanc(dicomweb: bool = False) -> None:
    """Skip without Orthanc (and its DICOMweb plugin, when asked); in CI, fail."""
    require(shutil.which("Orthanc") is not None, "Orthanc (apt-get install orthanc)")
    if dicomweb:
        require(DICOMWEB_PLUGIN.exists(), "Orthanc's DICOMweb plugin (apt-get install orthanc-dicomweb)")


@dataclass(frozen=True)
class OrthancServer:
    """A running Orthanc's REST API (https://orthanc.uclouvain.be/book/users/rest.html)."""

    url: str

    def post(self, path: str, body: bytes) -> Any:
        request = urllib.request.Request(self.url + path, data=body)  # noqa: S310 - Orthanc on loopback
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return json.load(answer)

    def get(self, path: str, params: dict[str, Any] | None = None, raw: str = "") -> tuple[int, bytes]:
        """The status and body of a GET; `params` percent-encoded (lists repeat the name) but for the `raw` characters.

        Orthanc 1.10's DICOMweb plugin does not decode percent-encoded query parameters: a test that is after
        its matching sends the characters it matches on (`*`, `?`, `^`, `\\`, `,`) as they are.
        """
        encoded = urllib.parse.urlencode(params or {}, doseq=True, safe=raw, quote_via=urllib.parse.quote)
        query = f"?{encoded}" if encoded else ""
        try:
            with urllib.request.urlopen(self.url + path + query, timeout=60) as answer:  # noqa: S310
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@contextmanager
def running_orthanc(folder: Path, env: dict[str, str] | None = None, **config: Any) -> Iterator[OrthancServer]:
    """Orthanc with `config` over a base configuration: storage under `folder`, free loopback ports, no auth."""
    http_port = free_port()
    settings = {
        "Name": "efilm-tests",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "DicomPort": free_port(),
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [],
        **config,
    }
    (folder / "orthanc.json").write_text(json.dumps(settings))
    process = background(["Orthanc", str(folder / "orthanc.json")], env or dict(os.environ))
    try:
        wait_for_port(http_port, process)
        yield OrthancServer(f"http://127.0.0.1:{http_port}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def dicomweb_config() -> dict[str, Any]:
    """What turns on the DICOMweb plugin (https://orthanc.uclouvain.be/book/plugins/dicomweb.html)."""
    return {"Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": f"{DICOMWEB_ROOT}/"}}
