"""imaging.dimse pieces that need a real association but no listener process."""

from collections.abc import Iterator

import pytest
from pynetdicom import AE, evt
from pynetdicom.events import Event

from imaging import synthetic
from imaging.dimse import TRANSFER_SYNTAXES, received_file
from tests.support.dicom import ct_slice
from tests.support.processes import free_port


@pytest.fixture
def recording_scp() -> Iterator[tuple[int, list[tuple[bytes, bytes]]]]:
    """A pynetdicom Storage SCP that records (received_file, encoded_dataset) of each C-STORE."""
    received: list[tuple[bytes, bytes]] = []

    def on_store(event: Event) -> int:
        received.append((received_file(event), event.encoded_dataset()))
        return 0x0000

    ae = AE(ae_title="REGION")
    for syntax in (synthetic.CT_IMAGE, synthetic.SECONDARY_CAPTURE):
        ae.add_supported_context(syntax, TRANSFER_SYNTAXES)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    yield port, received
    server.shutdown()


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
def test_it_packs_the_same_part10_file_as_pynetdicom(
    recording_scp: tuple[int, list[tuple[bytes, bytes]]], syntax: str
) -> None:
    port, received = recording_scp
    ae = AE(ae_title="CITY1_PACS")
    ae.add_requested_context(synthetic.CT_IMAGE, syntax)
    assoc = ae.associate("127.0.0.1", port, ae_title="REGION")
    assert assoc.is_established
    try:
        reply = assoc.send_c_store(ct_slice(number=3, size=8))
    finally:
        assoc.release()
    assert reply.Status == 0x0000
    [(ours, pynetdicoms)] = received
    assert ours == pynetdicoms
