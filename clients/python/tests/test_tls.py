"""TLS and mTLS to a sidecar's --tls-listen address, with certificates made by a private CA."""

from __future__ import annotations

from typing import Iterator

import grpc
import pytest

import sessionstore_client as ss

from pki import CertificateAuthority
from sidecar import Sidecar

pb = ss.pb


@pytest.fixture(scope="module")
def server_ca() -> CertificateAuthority:
    return CertificateAuthority("sessionstore test CA")


@pytest.fixture(scope="module")
def client_ca() -> CertificateAuthority:
    return CertificateAuthority("bridge client CA")


def _tls_sidecar(server_ca: CertificateAuthority, *extra: str) -> Iterator[Sidecar]:
    server = server_ca.server()
    sidecar = Sidecar(["--storage", "memory", "--tls-listen", "127.0.0.1:0", "--tls-cert", server.cert_file, "--tls-key", server.key_file, *extra])
    assert sidecar.tls_address.startswith("127.0.0.1:") and sidecar.tls_address != sidecar.address
    yield sidecar
    assert sidecar.stop() == 0


@pytest.fixture(scope="module")
def tls_sidecar(server_ca: CertificateAuthority) -> Iterator[Sidecar]:
    yield from _tls_sidecar(server_ca)


@pytest.fixture(scope="module")
def mtls_sidecar(server_ca: CertificateAuthority, client_ca: CertificateAuthority) -> Iterator[Sidecar]:
    yield from _tls_sidecar(server_ca, "--tls-client-ca", client_ca.ca.cert_file)


def _stats(channel: grpc.Channel) -> pb.GetStatsResponse:
    with channel:
        return ss.SessionStoreServiceStub(channel).GetStats(pb.GetStatsRequest(), timeout=5)


def _refused(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        _stats(channel)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_tls_handshake_with_the_ca_and_the_same_sessions_on_the_plaintext_listener(tls_sidecar, server_ca, new_id):
    cid = new_id()
    with ss.open_channel(tls_sidecar.tls_address, ca=server_ca.ca.cert) as channel:
        stub = ss.SessionStoreServiceStub(channel)
        stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid, caller="+15550100")), timeout=5)
    with ss.open_channel(tls_sidecar.address) as plain:
        got = ss.SessionStoreServiceStub(plain).GetSession(pb.GetSessionRequest(conversation_id=cid), timeout=5)
    assert got.session.caller == "+15550100"


def test_plaintext_and_an_untrusted_ca_are_refused_on_the_tls_port(tls_sidecar):
    _refused(ss.open_channel(tls_sidecar.tls_address))
    _refused(ss.open_channel(tls_sidecar.tls_address, ca=CertificateAuthority("another CA").ca.cert))


def test_mtls_needs_a_client_certificate_from_the_client_ca(mtls_sidecar, server_ca, client_ca):
    _refused(ss.open_channel(mtls_sidecar.tls_address, ca=server_ca.ca.cert))
    wrong = server_ca.client("intruder")
    _refused(ss.open_channel(mtls_sidecar.tls_address, ca=server_ca.ca.cert, cert=wrong.cert, key=wrong.key))
    right = client_ca.client()
    stats = _stats(ss.open_channel(mtls_sidecar.tls_address, ca=server_ca.ca.cert, cert=right.cert, key=right.key))
    assert stats.active_sessions == 0


def test_a_client_certificate_without_its_key_is_refused_before_dialing(server_ca):
    with pytest.raises(ValueError, match="cert and key go together"):
        ss.open_channel("127.0.0.1:1", ca=server_ca.ca.cert, cert=server_ca.client().cert)
