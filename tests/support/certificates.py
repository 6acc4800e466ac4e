"""Test certificates for DICOM TLS, made with the openssl command (the `cryptography` package is not installed)."""

import hashlib
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificate:
    certificate: Path
    key: Path

    @property
    def sha256(self) -> str:
        """The fingerprint `openssl x509 -fingerprint -sha256` shows, as bare lowercase hex."""
        der = ssl.PEM_cert_to_DER_cert(self.certificate.read_text())
        return hashlib.sha256(der).hexdigest()


def certificate_authority(folder: Path, name: str) -> Certificate:
    """A self-signed CA, valid for a day."""
    return _request(folder, name, f"/CN={name}", ["-addext", "keyUsage=critical,keyCertSign,cRLSign"])


def issued(folder: Path, name: str, common_name: str, ca: Certificate, ip: str | None = None) -> Certificate:
    """A leaf certificate `ca` issued, for a server at `ip` or a client."""
    extensions = ["-addext", "basicConstraints=critical,CA:FALSE"]
    if ip:
        extensions += ["-addext", f"subjectAltName=IP:{ip}"]
    return _request(
        folder, name, f"/CN={common_name}", [*extensions, "-CA", str(ca.certificate), "-CAkey", str(ca.key)]
    )


def _request(folder: Path, name: str, subject: str, extra: list[str]) -> Certificate:
    made = Certificate(folder / f"{name}.pem", folder / f"{name}.key")
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", subject]
    command += ["-keyout", str(made.key), "-out", str(made.certificate), *extra]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return made
