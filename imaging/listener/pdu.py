"""PDUs of the DICOM Upper Layer (PS3.8 9.3): their types, the sizes a peer's PDU is held to,
the reasons of an A-ASSOCIATE-RJ and an A-ABORT, and the PDVs of a P-DATA-TF (PS3.8 9.3.5, E.2).
"""

import struct
from collections.abc import Iterator

A_ASSOCIATE_RQ_PDU, A_ASSOCIATE_AC_PDU, A_ASSOCIATE_RJ_PDU = 0x01, 0x02, 0x03
P_DATA_TF_PDU, A_RELEASE_RQ_PDU, A_RELEASE_RP_PDU, A_ABORT_PDU = 0x04, 0x05, 0x06, 0x07
A_RELEASE_RP = struct.pack(">BBIL", A_RELEASE_RP_PDU, 0, 4, 0)
LARGEST_PDU = 64 << 20  # refuse (abort) a PDU that claims more: no peer needs it, and it would be read into memory
# What each PDU type can hold (PS3.8 9.3), checked on its 6-byte header before its body is read
# into memory: a peer not yet trusted must not make the listener allocate what it claims.
# An A-ASSOCIATE-RQ of 64 KiB has room for ~500 presentation contexts of ten transfer syntaxes.
LARGEST_ASSOCIATE_RQ = 64 << 10
LARGEST_OTHER_PDU = {A_RELEASE_RQ_PDU: 4, A_RELEASE_RP_PDU: 4, A_ABORT_PDU: 4}  # PS3.8 9.3.6-9.3.8: fixed length 4

# A-ASSOCIATE-RJ (result, source, diagnostic), PS3.8 9.3.4
REJECT_CALLING_AE = (0x01, 0x01, 0x03)
REJECT_CALLED_AE = (0x01, 0x01, 0x07)
REJECT_CONTEXT_NAME = (0x01, 0x01, 0x02)
REJECT_PROTOCOL_VERSION = (0x01, 0x02, 0x02)
REJECT_LOCAL_LIMIT = (0x02, 0x03, 0x02)

# A-ABORT source and reason, PS3.8 9.3.8
ABORT_BY_USER, ABORT_BY_PROVIDER = 0x00, 0x02
UNEXPECTED_PDU, INVALID_PARAMETER = 0x02, 0x06

PDU_HEADER = struct.Struct(">BBI")
_PDV = struct.Struct(">IBB")


class ProtocolError(Exception):
    """The peer broke PS3.8: the association is aborted."""


class PeerGone(Exception):
    """The peer aborted or closed the connection."""


def pdvs(body: memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """A P-DATA-TF's PDVs as (context ID, message control header, fragment) (PS3.8 9.3.5.1)."""
    offset = 0
    while offset < len(body):
        if offset + 6 > len(body):
            raise ProtocolError("a PDV item header runs past its PDU")
        length, context_id, control = _PDV.unpack_from(body, offset)
        if length < 2 or offset + 4 + length > len(body):
            raise ProtocolError("a PDV item runs past its PDU")
        yield context_id, control, body[offset + 6 : offset + 4 + length]
        offset += 4 + length


def pdata(context_id: int, control: int, data: bytes, largest: int) -> bytes:
    """`data` as P-DATA-TF PDUs; the last fragment's header says so (PS3.8 E.2)."""
    chunks = [data[start : start + largest] for start in range(0, len(data), largest)] or [b""]
    pdus = []
    for number, chunk in enumerate(chunks):
        flags = control | (0x02 if number == len(chunks) - 1 else 0x00)
        pdv = _PDV.pack(len(chunk) + 2, context_id, flags) + chunk
        pdus.append(PDU_HEADER.pack(P_DATA_TF_PDU, 0, len(pdv)) + pdv)
    return b"".join(pdus)
