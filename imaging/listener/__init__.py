"""The region's DICOM listener: the C-STORE, C-ECHO and Storage Commitment SCP.

- `upper_layer`: the DICOM Upper Layer as association acceptor (PS3.8), PDUs
  and DIMSE messages read and written by hand, one thread per association;
- `services`: what the listener does with what arrives (`RegionServices`):
  every C-STORE through `imaging.ingest`, Storage Commitment from the index;
- `flushing`: a C-STORE's file flush and its index commit made one, and the
  check after a crash (`check_unflushed_files`).

`manage.py dicom_listener` runs it.
"""

from imaging.listener.flushing import Checked, FileFlusher, FlushLedger, check_unflushed_files
from imaging.listener.services import (
    TRANSFER_SYNTAXES,
    HospitalDirectory,
    RegionServices,
    file_prefix,
    received_file,
    supported_contexts,
)
from imaging.listener.upper_layer import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    AcceptorSettings,
    Association,
    Message,
    Server,
    SiblingLoads,
    Spooling,
    open_listening_socket,
    presentation_context,
    remove_stale_spool_files,
    server_tls_context,
)

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "TRANSFER_SYNTAXES",
    "AcceptorSettings",
    "Association",
    "Checked",
    "FileFlusher",
    "FlushLedger",
    "HospitalDirectory",
    "Message",
    "RegionServices",
    "Server",
    "SiblingLoads",
    "Spooling",
    "check_unflushed_files",
    "file_prefix",
    "open_listening_socket",
    "presentation_context",
    "received_file",
    "remove_stale_spool_files",
    "server_tls_context",
    "supported_contexts",
]
