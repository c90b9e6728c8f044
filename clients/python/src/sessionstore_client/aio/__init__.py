"""The sessionstore client on grpc.aio, for asyncio bridges.

    import sessionstore_client.aio as ssa
    async with ssa.open_channel("127.0.0.1:50051") as channel:
        stub = ssa.SessionStoreServiceStub(channel)
        resumed = await stub.ResumeSession(ssa.pb.ResumeSessionRequest(conversation_id="call-1", owner_id="pod-a"))
        async with ssa.UpdateStream(stub) as stream:
            stream.track(resumed.session)
            ack = await stream.write("call-1", append_history=[ssa.pb.ConversationItem(text="hello")])

The same surface as sessionstore_client: open_channel takes the same arguments and
returns a grpc.aio channel, on which the generated stub's calls are coroutines;
UpdateStream numbers, replays, fences, holds and batches exactly as the threaded one
(both keep their books in UpdateLedger; docs/UPDATE-STREAM-PROTOCOL.md), with write()
awaiting the durable ack. A failed call raises grpc.aio.AioRpcError, which the error
readers (error_info, error_reason, retry_info, bad_request, rpc_status) read as they do a
threaded call's error; call_status reads a call object's. realtime_restore and the
other pure helpers are sessionstore_client's own, here too.
"""

from sessionstore.v1 import session_store_pb2 as pb
from sessionstore.v1.session_store_pb2_grpc import SessionStoreServiceStub

from ..batching import Batching
from ..errors import DOMAIN, bad_request, error_info, error_reason, retry_info, rpc_status
from ..realtime_restore import REALTIME_SESSION_KEY, RealtimeRestore, RestoreBudget, realtime_restore
from ..update_errors import SessionStopped, Stats, StopInfo, StreamFailed, UpdateRefused
from .call_status import call_status
from .channel import open_channel
from .update_stream import UpdateStream

__all__ = [
    "Batching",
    "DOMAIN",
    "REALTIME_SESSION_KEY",
    "RealtimeRestore",
    "RestoreBudget",
    "SessionStopped",
    "SessionStoreServiceStub",
    "Stats",
    "StopInfo",
    "StreamFailed",
    "UpdateRefused",
    "UpdateStream",
    "bad_request",
    "call_status",
    "error_info",
    "error_reason",
    "open_channel",
    "pb",
    "realtime_restore",
    "rpc_status",
    "retry_info",
]
