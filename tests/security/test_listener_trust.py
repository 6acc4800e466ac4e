"""Whom the DICOM listener trusts (issue 15, point 1): an AE title alone is a guessable string.

An attacker who knows (or guesses) a hospital's calling AE title tries to store
images from a network that is not the hospital's, over plain TCP to a TLS port,
with a certificate the region did not issue, with none, or with another
hospital's; and an operator tries to go live with an AE title open to any
network. DCMTK's storescu and echoscu are the senders, as a hospital's PACS.
"""

import contextlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from imaging.demo import ensure_hospitals
from imaging.listener import AcceptorSettings, HospitalDirectory, Server, open_listening_socket, server_tls_context
from imaging.models import Hospital, HospitalAETitle, Instance
from tests.support.certificates import Certificate, certificate_authority, issued
from tests.support.dicom import ct_bytes, stored_files
from tests.support.processes import free_port, manage_process, output_of, subprocess_env
from tests.support.workers import wait_for
from tests.test_dicom_listener import Listener, dcmtk, store_response
from tests.test_upper_layer import RecordingServices, associate_request

CALLING = "CITY1_PACS"
REJECTED = "Calling AE Title Not Recognized"
# What the listener logs when it turns an association away at A-ASSOCIATE-RQ.
REFUSED_LOG = f"refusing calling AE title '{CALLING}' from 127.0.0.1"
HANDSHAKE_FAILED_LOG = "TLS handshake with 127.0.0.1 failed"
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "listener-trust-tests-" + "k" * 40, "ALLOWED_HOSTS": "efilm.example.org"}


@dataclass(frozen=True)
class Pki:
    """The region's CA with the listener's and two hospitals' certificates, and a stranger's CA and client."""

    ca: Certificate
    server: Certificate
    client: Certificate
    second_client: Certificate
    untrusted: Certificate


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = certificate_authority(folder, "region-ca")
    stranger = certificate_authority(folder, "stranger-ca")
    return Pki(
        ca=ca,
        server=issued(folder, "listener", "127.0.0.1", ca, ip="127.0.0.1"),
        client=issued(folder, "city1", CALLING, ca),
        second_client=issued(folder, "tcm", "TCM_PACS", ca),
        untrusted=issued(folder, "forged-city1", CALLING, stranger),
    )


def tls_flags(pki: Pki) -> list[str]:
    return [
        "--tls-cert",
        str(pki.server.certificate),
        "--tls-key",
        str(pki.server.key),
        "--tls-ca",
        str(pki.ca.certificate),
    ]


def client_tls(pki: Pki, client: Certificate | None) -> list[str]:
    """DCMTK's options for TLS with this client certificate (none: anonymous TLS), trusting the region's CA."""
    identity = ["+tls", str(client.key), str(client.certificate)] if client else ["+tla"]
    return [*identity, "+cf", str(pki.ca.certificate)]


def launch(storage_root: Path, port: int, *flags: str, production: bool = True) -> subprocess.Popen[str]:
    """`dicom_listener` with DEBUG off (and the secrets production needs), or on."""
    env = subprocess_env(storage_root)
    env.update(PRODUCTION if production else {"DEBUG": "1"})
    return manage_process(
        ["dicom_listener", "--port", str(port), "--processes", "1", "--ae-title", "REGION", *flags], env
    )


def exit_code(process: subprocess.Popen[str]) -> int:
    """How a listener that must not start ended (killed if it started after all)."""
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def start(storage_root: Path, *flags: str, production: bool = True) -> Listener:
    """A listener process, once it accepts (no probe connection: over TLS it would log a failed handshake)."""
    port = free_port()
    process = launch(storage_root, port, *flags, production=production)
    started = wait_for(lambda: " accepting\n" in output_of(process) or process.poll() is not None, timeout=60)
    assert started, output_of(process)
    assert process.poll() is None, output_of(process)
    return Listener(port, process)


@pytest.fixture
def running(require_dcmtk: None) -> Iterator[list[Listener]]:
    """Listeners a test starts, stopped (and required to stop cleanly) after it."""
    listeners: list[Listener] = []
    yield listeners
    for listener in listeners:
        assert listener.stop() == 0, output_of(listener.process)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "ct.dcm"
    path.write_bytes(ct_bytes())
    return path


def storescu(listener: Listener, image: Path, *options: str, calling: str = CALLING) -> tuple[int, str]:
    """The DIMSE status of one C-STORE (-1 when none came back) and storescu's output."""
    result = dcmtk(
        "storescu", "-d", "-aet", calling, "-aec", "REGION", *options, "127.0.0.1", str(listener.port), str(image)
    )
    status = store_response(result)[0] if "DIMSE Status" in result.stderr else -1
    return status, result.stdout + result.stderr


def set_networks(text: str, ae_title: str = CALLING) -> None:
    HospitalAETitle.objects.filter(ae_title=ae_title).update(allowed_networks=text)


def assert_nothing_stored(storage_root: Path) -> None:
    assert stored_files(storage_root) == []
    assert not Instance.objects.exists()


# ------------------------------------------------------------- source networks


@pytest.mark.parametrize(
    ("networks", "accepted"),
    [
        ("127.0.0.1/32", True),
        ("10.0.0.0/8\n127.0.0.0/8", True),
        ("10.9.9.0/24", False),  # the hospital's real network; the attacker is elsewhere
        ("127.0.0.2/32", False),  # a neighbouring address is not enough
        ("::1/128", False),  # an IPv4 peer does not match an IPv6 network
    ],
)
def test_it_accepts_an_ae_title_only_from_its_networks(
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    running: list[Listener],
    image: Path,
    networks: str,
    accepted: bool,
) -> None:
    set_networks(networks)
    running.append(listener := start(storage_root))
    status, output = storescu(listener, image)
    if accepted:
        assert status == 0x0000, output
        assert len(stored_files(storage_root)) == 1
        assert Instance.objects.count() == 1
        return
    assert status == -1, output
    assert REJECTED in output
    assert_nothing_stored(storage_root)
    assert wait_for(lambda: f"{REFUSED_LOG}: source address not in" in output_of(listener.process), timeout=10)


def test_it_refuses_to_start_in_production_and_names_every_ae_title_without_networks(
    transactional_db: None, hospital: Hospital, other_hospital: Hospital, storage_root: Path
) -> None:
    set_networks("")
    HospitalAETitle.objects.create(hospital=hospital, ae_title="CITY1_CT")
    process = launch(storage_root, free_port())
    code = exit_code(process)
    output = output_of(process)
    assert code != 0, output
    assert "AE titles without allowed networks: CITY1_CT, CITY1_PACS." in output
    assert "TCM_PACS" not in output  # it has its networks
    assert " accepting" not in output


def test_it_accepts_an_ae_title_without_networks_from_anywhere_only_in_debug_and_says_so(
    transactional_db: None, hospital: Hospital, storage_root: Path, running: list[Listener], image: Path
) -> None:
    set_networks("")
    running.append(listener := start(storage_root, production=False))
    status, output = storescu(listener, image)
    assert status == 0x0000, output
    assert len(stored_files(storage_root)) == 1
    assert f"AE titles accepted from any network because DEBUG is on: {CALLING}" in output_of(listener.process)


def test_it_refuses_an_ae_title_registered_without_networks_while_it_runs_in_production(
    transactional_db: None, hospital: Hospital, storage_root: Path, running: list[Listener]
) -> None:
    running.append(listener := start(storage_root))
    HospitalAETitle.objects.create(hospital=hospital, ae_title="CITY1_CT")
    expected = "refusing calling AE title 'CITY1_CT' from 127.0.0.1: the AE title has no allowed networks"

    def echo_refused_for_want_of_networks() -> bool:
        # The listener rereads AE titles every few seconds; until then CITY1_CT is simply unknown.
        result = dcmtk("echoscu", "-aet", "CITY1_CT", "-aec", "REGION", "127.0.0.1", str(listener.port))
        assert result.returncode != 0
        assert REJECTED in result.stderr, result.stderr
        return expected in output_of(listener.process)

    assert wait_for(echo_refused_for_want_of_networks, timeout=20), output_of(listener.process)


# ------------------------------------------------------------------ DICOM TLS


@pytest.mark.parametrize("tool", ["echoscu", "storescu"])
def test_it_serves_dicom_tls_to_a_sender_with_a_certificate_of_the_region(
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    running: list[Listener],
    image: Path,
    pki: Pki,
    tool: str,
) -> None:
    running.append(listener := start(storage_root, *tls_flags(pki)))
    if tool == "echoscu":
        result = dcmtk(
            "echoscu", "-aet", CALLING, "-aec", "REGION", *client_tls(pki, pki.client), "127.0.0.1", str(listener.port)
        )
        assert result.returncode == 0, result.stderr
        return
    status, output = storescu(listener, image, *client_tls(pki, pki.client))
    assert status == 0x0000, output
    assert len(stored_files(storage_root)) == 1


@pytest.mark.parametrize(
    "sender",
    [
        "a certificate from another CA",
        "no client certificate",
        "plain TCP",
    ],
)
def test_it_drops_a_sender_without_a_trusted_certificate_and_serves_the_next(
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    running: list[Listener],
    image: Path,
    pki: Pki,
    sender: str,
) -> None:
    options = {
        "a certificate from another CA": client_tls(pki, pki.untrusted),
        "no client certificate": client_tls(pki, None),
        "plain TCP": [],
    }[sender]
    running.append(listener := start(storage_root, *tls_flags(pki)))
    status, output = storescu(listener, image, *options)
    assert status == -1, output
    assert_nothing_stored(storage_root)
    assert wait_for(lambda: HANDSHAKE_FAILED_LOG in output_of(listener.process), timeout=10)
    status, output = storescu(listener, image, *client_tls(pki, pki.client))
    assert status == 0x0000, output
    assert len(stored_files(storage_root)) == 1


@pytest.mark.parametrize(
    ("registered", "presented", "tls", "accepted"),
    [
        ("client", "client", True, True),
        ("second_client", "client", True, False),  # another hospital's certificate, though the region issued it
        ("client", None, False, False),  # an AE title bound to a certificate never comes in plain
    ],
)
def test_it_accepts_an_ae_title_bound_to_a_certificate_only_with_that_certificate(
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    running: list[Listener],
    image: Path,
    pki: Pki,
    registered: str,
    presented: str | None,
    tls: bool,
    accepted: bool,
) -> None:
    fingerprint: str = getattr(pki, registered).sha256
    HospitalAETitle.objects.filter(ae_title=CALLING).update(tls_certificate_sha256=fingerprint)
    running.append(listener := start(storage_root, *(tls_flags(pki) if tls else [])))
    status, output = storescu(listener, image, *(client_tls(pki, getattr(pki, presented)) if presented else []))
    if accepted:
        assert status == 0x0000, output
        assert len(stored_files(storage_root)) == 1
        return
    assert status == -1, output
    assert REJECTED in output
    assert_nothing_stored(storage_root)
    assert wait_for(lambda: f"{REFUSED_LOG}: no client certificate, or not the one" in output_of(listener.process), 10)
    if presented:  # the log names what was presented, for the operator to register if it is legitimate
        assert f"client certificate SHA-256 {getattr(pki, presented).sha256}" in output_of(listener.process)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (lambda pki: ["--tls-ca", str(pki.ca.certificate)], "--tls-cert and --tls-key go together"),
        (  # a key that is not the certificate's
            lambda pki: ["--tls-cert", str(pki.server.certificate), "--tls-key", str(pki.client.key)],
            "cannot set up TLS",
        ),
    ],
)
def test_it_refuses_to_start_with_tls_it_cannot_serve(
    transactional_db: None,
    hospital: Hospital,
    storage_root: Path,
    pki: Pki,
    flags: Callable[[Pki], list[str]],
    message: str,
) -> None:
    process = launch(storage_root, free_port(), *flags(pki))
    code = exit_code(process)
    assert code != 0
    assert message in output_of(process)
    assert " accepting" not in output_of(process)


def test_it_closes_a_tls_connection_whose_peer_never_speaks(pki: Pki) -> None:
    """A silent peer holds its thread only for the ACSE timeout, then the connection is closed."""
    listening = open_listening_socket("127.0.0.1", 0, 10)
    settings = AcceptorSettings(
        "REGION",
        16384,
        [],
        acse_timeout=0.5,
        tls=server_tls_context(str(pki.server.certificate), str(pki.server.key), str(pki.ca.certificate)),
    )
    server = Server(listening, settings, RecordingServices(), shared=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(listening.getsockname()[:2], timeout=10) as silent:
            started = time.monotonic()
            assert silent.recv(1) == b""  # closed by the listener, not by this timeout
            assert time.monotonic() - started < 5
        assert wait_for(lambda: server.open_count() == 0, timeout=5)
    finally:
        server.shutdown()
        listening.close()


def test_it_counts_the_tls_handshake_within_the_association_deadline(pki: Pki) -> None:
    """ARTIM runs from the connection (PS3.8 9.1.5): a TLS handshake made late leaves little for the request.

    Each step here comes well within the 1 s ARTIM on its own; together they pass it.
    """
    listening = open_listening_socket("127.0.0.1", 0, 10)
    settings = AcceptorSettings(
        "REGION",
        16384,
        [],
        acse_timeout=1.0,
        tls=server_tls_context(str(pki.server.certificate), str(pki.server.key), str(pki.ca.certificate)),
    )
    server = Server(listening, settings, RecordingServices(), shared=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cafile=str(pki.ca.certificate))
    client.load_cert_chain(str(pki.client.certificate), str(pki.client.key))
    request = associate_request()
    try:
        with socket.create_connection(listening.getsockname()[:2], timeout=10) as raw:
            started = time.monotonic()
            time.sleep(0.6)  # the attacker's pace, not a wait for the listener
            with client.wrap_socket(raw, server_hostname="127.0.0.1") as peer:
                peer.sendall(request[:10])
                time.sleep(0.6)
                with contextlib.suppress(OSError):  # closed already
                    peer.sendall(request[10:])
                with contextlib.suppress(OSError):  # a reset, or a TLS EOF without close_notify
                    assert peer.recv(1) == b""  # closed, no A-ASSOCIATE-AC
                assert time.monotonic() - started < 2
        assert wait_for(lambda: server.open_count() == 0, timeout=5)
    finally:
        server.shutdown()
        listening.close()


# ------------------------------------------------------------- configuration


def test_it_gives_the_demo_ae_titles_loopback_networks_only(db: None) -> None:
    ensure_hospitals()
    rows = list(HospitalAETitle.objects.all())
    assert rows
    for row in rows:
        assert row.allows("127.0.0.1")
        assert not row.allows("10.0.0.1")


@pytest.mark.parametrize(
    ("networks", "address", "allowed"),
    [
        ("10.20.0.0/16", "10.20.3.4", True),
        ("10.20.0.0/16", "10.21.0.1", False),
        ("10.20.0.0/16", "::ffff:10.20.3.4", True),  # an IPv4 sender seen by a dual-stack socket
        ("10.20.1.5", "10.20.1.5", True),  # a bare address is that host alone
        ("10.20.1.5", "10.20.1.6", False),
        ("10.20.0.0/16, 2001:db8::/32", "2001:db8::7", True),
        ("", "127.0.0.1", False),
        ("10.20.0.0/16\nnot-a-network", "10.20.3.4", False),  # a stored value that no longer parses allows nothing
        ("10.20.0.0/16", "not-an-address", False),
    ],
)
def test_it_matches_a_peer_address_against_the_ae_titles_networks(networks: str, address: str, allowed: bool) -> None:
    assert HospitalAETitle(ae_title=CALLING, allowed_networks=networks).allows(address) is allowed


@pytest.mark.parametrize(
    ("networks", "fingerprint", "debug", "address", "presented", "refusal"),
    [
        ("10.20.0.0/16", "", False, "10.20.0.9", None, None),
        ("10.20.0.0/16", "", True, "10.30.0.9", None, "source address not in"),  # DEBUG does not widen a list
        ("", "", True, "10.30.0.9", None, None),  # today's behaviour, in DEBUG only
        ("", "", False, "10.30.0.9", None, "no allowed networks"),
        ("", "ab" * 32, True, "10.30.0.9", None, "no client certificate"),  # DEBUG does not waive a certificate
        ("10.20.0.0/16", "ab" * 32, False, "10.20.0.9", "cd" * 32, "not the one registered"),
        ("10.20.0.0/16", "AB:" * 31 + "AB", False, "10.20.0.9", "ab" * 32, None),
    ],
)
def test_it_decides_at_association_from_ae_title_network_and_certificate(
    hospital: Hospital,
    networks: str,
    fingerprint: str,
    debug: bool,
    address: str,
    presented: str | None,
    refusal: str | None,
) -> None:
    HospitalAETitle.objects.filter(ae_title=CALLING).update(
        allowed_networks=networks, tls_certificate_sha256=fingerprint
    )
    directory = HospitalDirectory(open_when_unrestricted=debug)
    found = directory.refusal(CALLING, address, presented)
    if refusal is None:
        assert found is None
    else:
        assert refusal in (found or "")
    assert directory.refusal("STRANGER", address, presented) == "unknown AE title"


@pytest.mark.parametrize("networks", ["10.0.0.300/8", "10.20.0.0/33", "city1-pacs.example.org"])
def test_it_refuses_a_malformed_network_in_the_admin(hospital: Hospital, networks: str) -> None:
    row = HospitalAETitle(hospital=hospital, ae_title="CITY1_CT", allowed_networks=networks)
    with pytest.raises(ValidationError) as raised:
        row.full_clean()
    assert "allowed_networks" in raised.value.message_dict


def test_it_stores_networks_and_a_fingerprint_in_canonical_form(hospital: Hospital) -> None:
    row = HospitalAETitle(
        hospital=hospital,
        ae_title="CITY1_CT",
        allowed_networks="10.1.2.3/24, 10.9.0.0/16\n192.0.2.7",
        tls_certificate_sha256=":".join(["AB"] * 32),
    )
    row.full_clean()
    assert row.allowed_networks == "10.1.2.0/24\n10.9.0.0/16\n192.0.2.7/32"
    assert row.tls_certificate_sha256 == "ab" * 32


def test_it_sets_the_networks_of_the_ae_titles_add_hospital_registers(db: None) -> None:
    call_command(
        "add_hospital", "city9", name="Ninth", ae_titles=["C9_CT", "C9_PACS"], networks=["10.9.0.0/16", "10.8.1.5"]
    )
    rows = HospitalAETitle.objects.filter(hospital__code="city9")
    assert {row.ae_title: row.allowed_networks for row in rows} == {
        "C9_CT": "10.9.0.0/16\n10.8.1.5/32",
        "C9_PACS": "10.9.0.0/16\n10.8.1.5/32",
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ae_titles": ["C9_CT"], "networks": ["10.9.0.300/16"]}, "10.9.0.300/16 is not an IP network"),
        ({"networks": ["10.9.0.0/16"]}, "--network applies to the AE titles given with --ae-title"),
    ],
)
def test_it_refuses_a_network_add_hospital_cannot_apply(db: None, options: dict[str, list[str]], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("add_hospital", "city9", name="Ninth", **options)
    assert not HospitalAETitle.objects.exists()
