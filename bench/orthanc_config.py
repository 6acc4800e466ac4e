"""The Orthanc 1.10 configuration the benches compare against: storage and index in `storage`."""

import json
from pathlib import Path
from typing import Any


def write_orthanc_config(storage: Path, **extra: Any) -> Path:
    """Write `storage/orthanc.json` (DICOM on 4242, HTTP on 8042, no plugins) and return its path."""
    config = storage / "orthanc.json"
    settings = {
        "Name": "bench",
        "StorageDirectory": str(storage / "db"),
        "IndexDirectory": str(storage / "db"),
        "DicomAet": "ORTHANC",
        "DicomPort": 4242,
        "HttpPort": 8042,
        "RemoteAccessAllowed": False,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "Plugins": [],
        **extra,
    }
    config.write_text(json.dumps(settings))
    return config
