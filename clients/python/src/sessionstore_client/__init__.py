"""Python client for the sessionstore sidecar (sessionstore.v1).

    import sessionstore_client as ss
    stub = ss.SessionStoreServiceStub(ss.open_channel("127.0.0.1:50051"))
    resumed = stub.ResumeSession(ss.pb.ResumeSessionRequest(conversation_id="call-1", owner_id="pod-a"))

`pb` is the generated module of messages and enums (sessionstore.v1.session_store_pb2);
the stub is grpcio's. What the raw stubs make awkward is here: reading an error's
ErrorInfo (error_info, error_reason) and RetryInfo (retry_info), and an update stream
helper (UpdateStream, which batches writes into StreamUpdateBatches as Batching says); and
realtime_restore, the OpenAI Realtime events that replay a stored conversation into a new
model session. sessionstore_client.aio is the same surface on grpc.aio, for asyncio bridges.
"""

from sessionstore.v1 import session_store_pb2 as pb
from sessionstore.v1.session_store_pb2_grpc import SessionStoreServiceStub

from .batching import Batching
from .channel import open_channel
from .errors import DOMAIN, bad_request, error_info, error_reason, retry_info, rpc_status
from .realtime_restore import REALTIME_SESSION_KEY, RealtimeRestore, RestoreBudget, realtime_restore
from .update_errors import SessionStopped, Stats, StopInfo, StreamFailed, UpdateRefused
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
    "error_info",
    "error_reason",
    "open_channel",
    "pb",
    "realtime_restore",
    "retry_info",
    "rpc_status",
]
