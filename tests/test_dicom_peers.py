"""The DICOM listener against real peers, over every transfer syntax the README lists.

DCMTK's storescu and dcmsend and Orthanc 1.10 as a modality (its REST
`/modalities/{name}/store`) send a file already in each syntax, pynetdicom in a
few, each proposing that syntax. Stored as received means: the stored file's dataset, the
bytes after its file meta group (PS3.10 7.1), is the sent file's byte for byte,
and its file meta names the syntax it arrived in. The file meta is the
listener's own (its group length and implementation UID differ from the sender's).
"""

import json
import os
import re
import shutil
import subprocess
import urllib.error
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE

from imaging import synthetic
from imaging.models import Hospital, HospitalAETitle, Instance
from tests.support.dicom import study_spec
from tests.support.orthanc import OrthancServer, require_orthanc, running_orthanc
from tests.support.processes import background, free_port, wait_for_port
from tests.support.services import require
from tests.test_dicom_listener import (
    CALLING,
    TRANSFER_SYNTAX_FLAG,
    Listener,
    dataset_bytes,
    start_listener,
)

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("require_dcmtk_tools")]
DCMTK_TOOLS = ("storescu", "dcmsend", "storescp", "dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle")


@pytest.fixture(scope="module")
def require_dcmtk_tools() -> None:
    """The module's fixtures start DCMTK's tools: checked before them (conftest's require_dcmtk comes after)."""
    require(all(shutil.which(tool) for tool in DCMTK_TOOLS), "DCMTK (apt-get install dcmtk)")


@dataclass(frozen=True)
class Syntax:
    """A transfer syntax the README lists, and how a file in it is made from an Explicit VR LE one."""

    uid: UID
    bits_stored: int  # JPEG baseline holds 8 bits a sample; the others get a 12-bit CT
    dcmtk_encoder: tuple[str, ...] | None  # None: pydicom encodes it (DCMTK's free build has no JPEG 2000)


SYNTAXES = [
    Syntax(ImplicitVRLittleEndian, 12, ("dcmconv", "+ti")),
    Syntax(ExplicitVRLittleEndian, 12, ("dcmconv", "+te")),
    Syntax(ExplicitVRBigEndian, 12, ("dcmconv", "+tb")),
    Syntax(DeflatedExplicitVRLittleEndian, 12, ("dcmconv", "+td")),
    Syntax(JPEGBaseline8Bit, 8, ("dcmcjpeg", "+eb")),
    Syntax(JPEGExtended12Bit, 12, ("dcmcjpeg", "+ee")),
    Syntax(JPEGLossless, 12, ("dcmcjpeg", "+el")),
    Syntax(JPEGLosslessSV1, 12, ("dcmcjpeg", "+e1")),
    Syntax(JPEGLSLossless, 12, ("dcmcjpls", "+el")),
    Syntax(JPEGLSNearLossless, 12, ("dcmcjpls", "+en")),
    Syntax(JPEG2000Lossless, 12, None),
    Syntax(JPEG2000, 12, None),
    Syntax(RLELossless, 12, ("dcmcrle",)),
]
UNCOMPRESSED = [ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian]  # DCMTK's order of preference
BY_UID: dict[str, Syntax] = {syntax.uid: syntax for syntax in SYNTAXES}
ALL = [pytest.param(syntax.uid, id=syntax.uid.name) for syntax in SYNTAXES]


def image(syntax: Syntax, sender: str) -> Dataset:
    """A 64x64 image of its own for each sender: a 12-bit CT slice, or an 8-bit secondary capture."""
    study = study_spec("peers")
    if syntax.bits_stored == 8:
        ds = synthetic.base_dataset(study, synthetic.SECONDARY_CAPTURE, "sc", 1, 1, "OT")
        ds.ConversionType = "WSD"
    else:
        ds = synthetic.base_dataset(study, synthetic.CT_IMAGE, "ct", 2, 1, "CT")
        ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ds.SOPInstanceUID = synthetic.uid_for("peers", sender, syntax.uid)
    ds.PhotometricInterpretation = "MONOCHROME2"
    y, x = np.mgrid[0:64, 0:64]
    disc = ((x - 30) ** 2 + (y - 34) ** 2 < 400) * 900
    pixels = (x * 23 + y * 17 + disc) % (1 << syntax.bits_stored)
    synthetic._grey_image(ds, pixels, syntax.bits_stored, signed=False)
    if syntax.bits_stored == 8:
        ds.BitsAllocated = 8
        ds.PixelData = pixels.astype(np.uint8).tobytes()
    return synthetic.with_file_meta(ds)


def encode(syntax: Syntax, sender: str, folder: Path) -> Path:
    """A file in `syntax`, made from an Explicit VR Little Endian one by DCMTK or pydicom."""
    ds = image(syntax, sender)
    source = folder / f"{sender}-{syntax.uid}.source.dcm"
    ds.save_as(source, enforce_file_format=True)
    target = folder / f"{sender}-{syntax.uid}.dcm"
    if syntax.dcmtk_encoder is None:
        if syntax.uid == JPEG2000:
            ds.compress(syntax.uid, encoding_plugin="pylibjpeg", j2k_cr=[10])  # lossy: a compression ratio
        else:
            ds.compress(syntax.uid, encoding_plugin="pylibjpeg")
        ds.save_as(target, enforce_file_format=True)
    else:
        subprocess.run([*syntax.dcmtk_encoder, str(source), str(target)], check=True, capture_output=True)
    assert pydicom.dcmread(target, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax.uid
    return target


@pytest.fixture(scope="module")
def files(require_dcmtk_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """A file in a syntax for a sender, made once for the module (each sender's own SOP Instance UIDs)."""
    folder = tmp_path_factory.mktemp("syntaxes")
    made: dict[tuple[str, str], Path] = {}

    def file_for(sender: str, syntax: str) -> Path:
        if (sender, syntax) not in made:
            made[sender, syntax] = encode(BY_UID[syntax], sender, folder)
        return made[sender, syntax]

    return file_for


@dataclass
class Region:
    """The module's listener, its storage, and the hospital whose AE title sends."""

    listener: Listener
    storage_root: Path


@pytest.fixture(scope="module")
def region(
    require_dcmtk_tools: None, django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Region]:
    """One listener for the whole matrix (starting one per case would take most of its time).

    Its rows are committed, as the listener's own are, and flushed when the module ends.
    """
    storage_root = tmp_path_factory.mktemp("region") / "storage"
    with django_db_blocker.unblock():
        try:
            hospital = Hospital.objects.create(code="city1", name="City First Hospital")
            HospitalAETitle.objects.create(hospital=hospital, ae_title=CALLING)
            running = start_listener(storage_root, processes=1)
            yield Region(running, storage_root)
            assert running.stop() == 0
        finally:
            call_command("flush", interactive=False, verbosity=0)


@dataclass
class Reference:
    """DCMTK's storescp in bit-preserving mode: the dataset exactly as a sender put it on the wire."""

    port: int
    folder: Path

    def received(self) -> Path:
        files = list(self.folder.iterdir())
        assert len(files) == 1, files
        return files[0]

    def clear(self) -> None:
        for old in self.folder.iterdir():
            old.unlink()


@pytest.fixture(scope="module")
def reference(require_dcmtk_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    folder = tmp_path_factory.mktemp("reference")
    port = free_port()
    # every syntax of the matrix (storescp's +xa lacks JPEG Lossless Process 14), compressed ones preferred
    accepted = [s.uid for s in SYNTAXES if s.uid.is_compressed] + [DeflatedExplicitVRLittleEndian, *UNCOMPRESSED]
    profile = association_profile(
        folder.parent, "Reference", [synthetic.CT_IMAGE, synthetic.SECONDARY_CAPTURE], accepted
    )
    command = ["storescp", "+B", "-xf", str(profile), "Reference", "-od", str(folder), "-aet", "REGION", str(port)]
    process = background(command, dcmtk_env())
    wait_for_port(port, process)
    yield Reference(port, folder)
    process.terminate()
    process.wait(timeout=10)


Sender = Callable[[int, Path], tuple[int, str]]  # (port, file) -> the C-STORE's status and Error Comment


def storescu(combined: bool = False) -> Sender:
    """storescu proposing the file's syntax in a context of its own, beside a context of the uncompressed
    syntaxes (-R: for the file's SOP class only), or, combined (+C), first in one context with them."""

    def send(port: int, path: Path) -> tuple[int, str]:
        syntax = header(path).file_meta.TransferSyntaxUID
        if syntax in TRANSFER_SYNTAX_FLAG:
            proposal = [TRANSFER_SYNTAX_FLAG[syntax], "-R", *(["+C"] if combined else [])]
        else:  # storescu has no flag for JPEG Lossless Process 14: a configuration file proposes it
            syntaxes = [syntax, *UNCOMPRESSED] if combined else [syntax]
            profile = association_profile(path.parent, "Proposed", [header(path).SOPClassUID], syntaxes)
            proposal = ["-xf", str(profile), "Proposed"]
        command = ["storescu", "-d", "-aet", CALLING, "-aec", "REGION", *proposal, "127.0.0.1", str(port), str(path)]
        return dcmtk_status(subprocess.run(command, capture_output=True, text=True, timeout=60, env=dcmtk_env()))

    return send


def association_profile(folder: Path, name: str, sop_classes: Sequence[str], syntaxes: Sequence[str]) -> Path:
    """A DCMTK association profile (asconfig format, read with -xf): each SOP class with `syntaxes`, in order."""
    path = folder / f"{name}.cfg"
    lines = ["[[TransferSyntaxes]]", "[Syntaxes]"]
    lines += [f"TransferSyntax{n + 1} = {uid}" for n, uid in enumerate(syntaxes)]
    lines += ["[[PresentationContexts]]", "[Contexts]"]
    lines += [f"PresentationContext{n + 1} = {uid}\\Syntaxes" for n, uid in enumerate(sop_classes)]
    lines += ["[[Profiles]]", f"[{name}]", "PresentationContexts = Contexts"]
    path.write_text("\n".join(lines) + "\n")
    return path


def dcmsend(*options: str) -> Sender:
    """dcmsend: a compressed file's syntax proposed (alone with -dn), uncompressed files as Explicit VR LE first."""

    def send(port: int, path: Path) -> tuple[int, str]:
        command = ["dcmsend", "-d", "-aet", CALLING, "-aec", "REGION", *options, "127.0.0.1", str(port), str(path)]
        return dcmtk_status(subprocess.run(command, capture_output=True, text=True, timeout=60, env=dcmtk_env()))

    return send


def pynetdicom_scu(*fallbacks: str) -> Sender:
    """pynetdicom sending the file's encoded dataset as it is, its syntax proposed first in one context."""

    def send(port: int, path: Path) -> tuple[int, str]:
        ae = AE(ae_title=CALLING)
        ae.add_requested_context(header(path).SOPClassUID, [header(path).file_meta.TransferSyntaxUID, *fallbacks])
        assoc = ae.associate("127.0.0.1", port, ae_title="REGION")
        assert assoc.is_established
        try:
            accepted = [context.transfer_syntax[0] for context in assoc.accepted_contexts]
            if accepted != [header(path).file_meta.TransferSyntaxUID]:
                return -1, f"the peer accepted {accepted}: pynetdicom sends a file only in its own syntax"
            reply = assoc.send_c_store(path)
        finally:
            assoc.release()
        return (int(reply.Status), str(reply.get("ErrorComment", ""))) if reply else (-1, "no answer")

    return send


def dcmtk_status(result: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    """The status and Error Comment in a DCMTK sender's debug output, or (-1, its errors) when none came back."""
    status = re.search(r"DIMSE Status\s*: 0x([0-9a-f]{4})", result.stderr)
    if status is None:
        return -1, "\n".join(line for line in result.stderr.splitlines() if line.startswith(("E:", "W:")))
    comment = re.search(r"\(0000,0902\) LO \[(.*?)\]", result.stderr)
    return int(status.group(1), 16), comment.group(1) if comment else ""


def header(path: Path) -> Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)


def dcmtk_env() -> dict[str, str]:
    return {**os.environ, "TCP_NODELAY": "1"}  # Debian's DCMTK leaves Nagle on: ~44 ms per small object


def assert_stored_as_sent(send: Sender, path: Path, region: Region, reference: Reference, syntax: str) -> None:
    """`send` puts `path` on the wire in `syntax`, and the listener stores that dataset byte for byte.

    What went on the wire is what DCMTK's storescp, bit-preserving, received from the
    same sender: a sender may re-encode a file (DCMTK pads a deflated stream to even length).
    """
    reference.clear()
    assert send(reference.port, path)[0] == 0, "the reference did not receive it"
    wire = reference.received()
    assert header(wire).file_meta.TransferSyntaxUID == syntax  # the case sends what it says
    assert send(region.listener.port, path) == (0, "")
    instance = Instance.objects.get(sop_uid=header(path).SOPInstanceUID)
    stored = region.storage_root / instance.storage_key
    assert (instance.transfer_syntax_uid, header(stored).file_meta.TransferSyntaxUID) == (syntax, syntax)
    assert dataset_bytes(stored.read_bytes()) == dataset_bytes(wire.read_bytes())


@pytest.mark.parametrize("syntax", ALL)
def test_it_stores_what_storescu_sends_as_sent(
    db: None, region: Region, reference: Reference, files: Callable[[str, str], Path], syntax: str
) -> None:
    assert_stored_as_sent(storescu(), files("storescu", syntax), region, reference, syntax)


DCMSEND_UNCOMPRESSED = ExplicitVRLittleEndian  # its first proposal for any uncompressed file


@pytest.mark.parametrize("syntax", ALL)
def test_it_stores_what_dcmsend_sends_as_sent(
    db: None, region: Region, reference: Reference, files: Callable[[str, str], Path], syntax: str
) -> None:
    sent = DCMSEND_UNCOMPRESSED if syntax in UNCOMPRESSED else syntax
    assert_stored_as_sent(dcmsend("--decompress-never"), files("dcmsend", syntax), region, reference, sent)


PYNETDICOM = [
    pytest.param(uid, id=uid.name)
    for uid in (
        ImplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
        JPEGBaseline8Bit,
        JPEGLSLossless,
        JPEG2000Lossless,
        RLELossless,
    )
]


@pytest.mark.parametrize("syntax", PYNETDICOM)
def test_it_stores_what_pynetdicom_sends_as_sent(
    db: None, region: Region, reference: Reference, files: Callable[[str, str], Path], syntax: str
) -> None:
    assert_stored_as_sent(pynetdicom_scu(), files("pynetdicom", syntax), region, reference, syntax)


@dataclass
class Orthanc:
    """Orthanc 1.10 over its REST API, with the listener and the reference as DICOM modalities."""

    server: OrthancServer
    modalities: dict[int, str]  # port -> modality name
    uploaded: dict[Path, str]  # file -> Orthanc's instance id

    def send(self, port: int, path: Path) -> tuple[int, str]:
        """Orthanc's C-STORE of `path` to the modality on `port`: (0, "") or (-1, why); REST hides the status."""
        if path not in self.uploaded:
            self.uploaded[path] = self.server.post("/instances", path.read_bytes())["ID"]
        body = {"Resources": [self.uploaded[path]], "Synchronous": True}
        try:
            answer = self.server.post(f"/modalities/{self.modalities[port]}/store", json.dumps(body).encode())
        except urllib.error.HTTPError as error:
            return -1, error.read().decode(errors="replace")
        return (0, "") if answer.get("FailedInstancesCount") == 0 else (-1, json.dumps(answer))


@pytest.fixture(scope="module")
def orthanc(region: Region, reference: Reference, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """Orthanc as a hospital's modality: its AE title is the hospital's, on loopback ports of its own."""
    require_orthanc()
    modalities = {region.listener.port: "efilm", reference.port: "reference"}
    config = {
        "Name": "efilm-peers",
        "DicomAet": CALLING,
        "DicomModalities": {name: ["REGION", "127.0.0.1", port] for port, name in modalities.items()},
    }
    # Its DCMTK reads TCP_NODELAY.
    with running_orthanc(tmp_path_factory.mktemp("orthanc"), dcmtk_env(), **config) as server:
        yield Orthanc(server, modalities, {})


@pytest.mark.parametrize("syntax", ALL)
def test_it_stores_what_orthanc_sends_as_sent(
    db: None, region: Region, reference: Reference, orthanc: Orthanc, files: Callable[[str, str], Path], syntax: str
) -> None:
    assert_stored_as_sent(orthanc.send, files("orthanc", syntax), region, reference, syntax)


OFFERED_WITH_FALLBACKS = [DeflatedExplicitVRLittleEndian, *(s.uid for s in SYNTAXES if s.uid.is_compressed)]
ONE_CONTEXT = [
    pytest.param(sender, uid, id=f"{sender}-{uid.name}")
    for sender in ("storescu", "dcmsend", "pynetdicom")
    for uid in OFFERED_WITH_FALLBACKS
    # dcmsend cannot decompress JPEG 2000, so it proposes it alone (and the matrix above covers that)
    if not (sender == "dcmsend" and uid in (JPEG2000Lossless, JPEG2000))
]
SENDERS: dict[str, Sender] = {
    "storescu": storescu(combined=True),
    "dcmsend": dcmsend("--decompress-lossy"),
    "pynetdicom": pynetdicom_scu(*UNCOMPRESSED),
}


@pytest.mark.parametrize(("sender", "syntax"), ONE_CONTEXT)
def test_it_accepts_the_first_syntax_a_sender_proposes_in_one_context(
    db: None, region: Region, reference: Reference, files: Callable[[str, str], Path], sender: str, syntax: str
) -> None:
    """Issue 16 point 9: a compressed image offered first, uncompressed syntaxes after, in one context."""
    path = files(f"{sender}-one-context", syntax)
    assert_stored_as_sent(SENDERS[sender], path, region, reference, syntax)
