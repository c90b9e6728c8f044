"""sessionstore_client.aio.open_channel against the real sidecar: bearer tokens on unary calls and
streams, TLS, and the error details of a refused call read from an AioRpcError and a call object."""

from __future__ import annotations

import asyncio
from typing import Iterator

import grpc
import pytest

import sessionstore_client as ss
import sessionstore_client.aio as ssa

from pki import CertificateAuthority
from sidecar import Sidecar

pb = ss.pb
TOKEN = "aio-s3cret-0123456789"


@pytest.fixture(scope="module")
def secured() -> Iterator[Sidecar]:
    sidecar = Sidecar(["--auth-tokens", f"{TOKEN}=tenant-a"])
    yield sidecar
    assert sidecar.stop() == 0


def test_a_token_goes_with_unary_calls_and_the_update_stream(secured: Sidecar, new_id):
    cid = new_id()

    async def main() -> None:
        async with ssa.open_channel(secured.address, token=TOKEN) as channel:
            stub = ssa.SessionStoreServiceStub(channel)
            watch = stub.WatchSessions(pb.WatchSessionsRequest(conversation_id=cid))
            await watch.initial_metadata()  # the sidecar answers a watch it accepted with its headers at once
            created = (await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid)))).session
            event = await asyncio.wait_for(watch.read(), 10)
            assert (event.session.conversation_id, event.type) == (cid, pb.SESSION_EVENT_TYPE_CREATED)
            watch.cancel()
            async with ssa.UpdateStream(stub) as stream:
                stream.track(created)
                assert (await stream.write(cid, append_history=[pb.ConversationItem(item_id="t1")])).applied
            got = (await stub.GetSession(pb.GetSessionRequest(conversation_id=cid))).session
            assert [h.item_id for h in got.conversation_history] == ["t1"]

        async with ssa.open_channel(secured.address) as anonymous:
            stub = ssa.SessionStoreServiceStub(anonymous)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetSession(pb.GetSessionRequest(conversation_id=cid))
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
            # The stream fails for good: no new stream would be let in either.
            async with ssa.UpdateStream(stub) as stream:
                stream.track(created)
                with pytest.raises(ss.StreamFailed) as failed:
                    await stream.write(cid, append_history=[pb.ConversationItem(item_id="t2")])
                assert failed.value.code == grpc.StatusCode.UNAUTHENTICATED

    asyncio.run(main())


def test_error_details_of_a_refused_call_through_grpcio_status(sidecar: Sidecar, new_id):
    cid = new_id()

    async def main() -> None:
        async with ssa.open_channel(sidecar.address) as channel:
            stub = ssa.SessionStoreServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetSession(pb.GetSessionRequest(conversation_id=cid))
            # An AioRpcError reads as a threaded call's error does.
            info = ssa.error_info(raised.value)
            assert (raised.value.code(), info.reason, info.domain) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND", ss.DOMAIN)
            assert ssa.rpc_status(raised.value).code == grpc.StatusCode.NOT_FOUND.value[0]

            # A call object, awaited to its end, through grpcio-status's aio reader.
            call = stub.UpdateSession(pb.UpdateSessionRequest(update=pb.SessionUpdate(conversation_id="")))
            with pytest.raises(grpc.aio.AioRpcError):
                await call
            status = await ssa.call_status(call)
            assert status is not None and status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert ssa.error_reason(status) == "INVALID_ARGUMENT"
            assert [v.field for v in ssa.bad_request(status).field_violations] == ["update.conversation_id"]

            # A call that succeeded has no Status to read.
            ok = stub.GetStats(pb.GetStatsRequest())
            await ok
            assert await ssa.call_status(ok) is None

    asyncio.run(main())


def test_tls_with_the_ca_and_a_client_certificate_needs_its_key():
    server_ca = CertificateAuthority("aio test CA")
    server = server_ca.server()
    sidecar = Sidecar(["--storage", "memory", "--tls-listen", "127.0.0.1:0", "--tls-cert", server.cert_file, "--tls-key", server.key_file])

    async def main() -> None:
        async with ssa.open_channel(sidecar.tls_address, ca=server_ca.ca.cert) as channel:
            stats = await ssa.SessionStoreServiceStub(channel).GetStats(pb.GetStatsRequest(), timeout=5)
            assert stats.active_sessions == 0
        async with ssa.open_channel(sidecar.tls_address) as plaintext:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await ssa.SessionStoreServiceStub(plaintext).GetStats(pb.GetStatsRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    try:
        asyncio.run(main())
    finally:
        assert sidecar.stop() == 0
    with pytest.raises(ValueError, match="cert and key go together"):
        ssa.open_channel("127.0.0.1:1", ca=server_ca.ca.cert, cert=server_ca.client().cert)
