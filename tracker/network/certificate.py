"""The tracker's TLS certificate: generated once (ECDSA P-256, self-signed) or supplied.

On first run without ``--cert/--key`` the tracker writes ``tracker-cert.pem`` and
``tracker-key.pem`` (mode 0600, created with that mode so the key is never readable by
others, not even briefly) in its data directory and reuses them afterwards, so the
fingerprint users pinned stays valid across restarts.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from commons.private_file import write_private_file
from commons.tls_fingerprint import cert_fingerprint
from tracker.data_dir import make_private_directory

CERT_FILE_NAME = "tracker-cert.pem"
KEY_FILE_NAME = "tracker-key.pem"
VALIDITY_DAYS = 3650


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """Where the PEM files are and the certificate's SHA-256 fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint: str


def generate_self_signed(cert_path: Path, key_path: Path, common_name: str) -> None:
    """Write a fresh P-256 key (0600) and a self-signed certificate for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(key_path, key_pem)
    write_private_file(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def fingerprint_of_pem(cert_path: Path) -> str:
    """SHA-256 fingerprint (``AB:CD:...``) of the first certificate in a PEM file."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert_fingerprint(cert.public_bytes(serialization.Encoding.DER))


def ensure_certificate(
    data_dir: Path, cert_file: Path | None = None, key_file: Path | None = None
) -> CertificateFiles:
    """Return the certificate to serve, generating a self-signed one on first run."""
    if cert_file is not None and key_file is not None:
        return CertificateFiles(cert_file, key_file, fingerprint_of_pem(cert_file))
    make_private_directory(data_dir)
    cert_path = data_dir / CERT_FILE_NAME
    key_path = data_dir / KEY_FILE_NAME
    if not (cert_path.exists() and key_path.exists()):
        cert_path.unlink(missing_ok=True)
        key_path.unlink(missing_ok=True)
        generate_self_signed(cert_path, key_path, "p2pchat tracker")
    return CertificateFiles(cert_path, key_path, fingerprint_of_pem(cert_path))
