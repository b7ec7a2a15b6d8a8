"""TLS material of a simulated cluster: its own CA and an API server certificate.

kubectl (client-go) only sends a bearer token over TLS, so the simulated API server speaks
HTTPS like a real one; the kubeconfig carries the CA. Certificates are made once with the
`openssl` command line tool and kept in the state directory, so they survive restarts.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "3650"
_CA_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = slipway-simulated-ca-{name}
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
"""
_SERVER_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = slipway-simulated-apiserver-{name}
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
"""


class CertificateError(RuntimeError):
    """The certificates of the simulated cluster could not be made."""


@dataclass(frozen=True)
class Certificates:
    """Paths of the CA certificate and the API server's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def ensure_certificates(directory: Path, name: str) -> Certificates:
    """Create the CA and server certificate in `directory` unless they already exist."""
    certificates = Certificates(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "apiserver.crt",
        server_key=directory / "apiserver.key",
    )
    if all(
        path.exists()
        for path in (certificates.ca_cert, certificates.server_cert, certificates.server_key)
    ):
        return certificates
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError(
            "the simulated cluster needs the `openssl` command to make its TLS certificates"
        )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key = directory / "ca.key"
    ca_config, server_config = directory / "ca.cnf", directory / "apiserver.cnf"
    csr = directory / "apiserver.csr"
    ca_config.write_text(_CA_CONFIG.format(name=name))
    server_config.write_text(_SERVER_CONFIG.format(name=name))
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(
        [
            openssl,
            "req",
            "-x509",
            "-config",
            str(ca_config),
            "-extensions",
            "v3_ca",
            *ec_key,
            "-keyout",
            str(ca_key),
            "-out",
            str(certificates.ca_cert),
            "-days",
            _DAYS,
        ]
    )
    _run(
        [
            openssl,
            "req",
            "-new",
            "-config",
            str(server_config),
            *ec_key,
            "-keyout",
            str(certificates.server_key),
            "-out",
            str(csr),
        ]
    )
    _run(
        [
            openssl,
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(certificates.ca_cert),
            "-CAkey",
            str(ca_key),
            "-set_serial",
            f"0x{secrets.token_hex(16)}",
            "-days",
            _DAYS,
            "-extfile",
            str(server_config),
            "-extensions",
            "v3_server",
            "-out",
            str(certificates.server_cert),
        ]
    )
    for key in (ca_key, certificates.server_key):
        os.chmod(key, 0o600)
    for leftover in (csr, ca_config, server_config):
        leftover.unlink(missing_ok=True)
    return certificates


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CertificateError(f"openssl failed: {result.stderr.strip() or result.stdout.strip()}")
