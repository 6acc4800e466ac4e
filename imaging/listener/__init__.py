"""The region's DICOM listener: the C-STORE, C-ECHO and Storage Commitment SCP.

- `pdu`, `messages`, `association`, `server`: the DICOM Upper Layer as
  association acceptor, written by hand: PDUs (PS3.8 9.3), DIMSE messages
  (PS3.7 6.3, E.1), one thread per association, and the accepting of
  connections across the listener's processes;
- `services`: what the listener does with what arrives (`RegionServices`):
  every C-STORE through `imaging.ingest`, Storage Commitment from the index;
- `flushing`: a C-STORE's file flush and its index commit made one, and the
  check after a crash (`check_unflushed_files`).

`manage.py dicom_listener` runs it.
"""

from imaging.listener.association import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    AcceptorSettings,
    Association,
    Services,
    presentation_context,
)
from imaging.listener.flushing import Checked, FileFlusher, FlushLedger, check_unflushed_files
from imaging.listener.messages import Message, Spooling, remove_stale_spool_files
from imaging.listener.server import Server, SiblingLoads, open_listening_socket, server_tls_context
from imaging.listener.services import (
    TRANSFER_SYNTAXES,
    HospitalDirectory,
    RegionServices,
    file_prefix,
    received_file,
    supported_contexts,
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
    "Services",
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
