"""A private CA made with openssl, and the certificates it signs, for the TLS tests."""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile
from typing import NamedTuple

_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


class Issued(NamedTuple):
    cert_file: str
    key_file: str

    @property
    def cert(self) -> bytes:
        return pathlib.Path(self.cert_file).read_bytes()

    @property
    def key(self) -> bytes:
        return pathlib.Path(self.key_file).read_bytes()


class CertificateAuthority:
    """EC P-256 keys, one day of validity: what a cert-manager Issuer would hand out."""

    def __init__(self, common_name: str) -> None:
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="sessionstore-py-pki-"))
        self._count = 0
        self._openssl(
            "req", "-x509", *_NEW_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", f"/CN={common_name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )
        self.ca = Issued(str(self.dir / "ca.crt"), str(self.dir / "ca.key"))

    def server(self, common_name: str = "sessionstore") -> Issued:
        return self._issue(common_name, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")

    def client(self, common_name: str = "voice-bridge") -> Issued:
        return self._issue(common_name, "extendedKeyUsage=clientAuth\n")

    def _issue(self, common_name: str, extensions: str) -> Issued:
        self._count += 1
        name = f"leaf-{self._count}"
        (self.dir / f"{name}.ext").write_text(extensions)
        self._openssl("req", *_NEW_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={common_name}")
        self._openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", f"0x{secrets.token_hex(8)}",
            "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext",
        )
        return Issued(str(self.dir / f"{name}.crt"), str(self.dir / f"{name}.key"))

    def _openssl(self, *args: str) -> None:
        # The copy scripts/ensure-test-tools.sh installs; missing is an error, never a skip.
        openssl = shutil.which("openssl") or "openssl"
        subprocess.run([openssl, *args], cwd=self.dir, check=True, capture_output=True, env={**os.environ})
