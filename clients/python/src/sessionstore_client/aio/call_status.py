"""call_status: the google.rpc.Status of a grpc.aio call object, through grpcio-status."""

from __future__ import annotations

from typing import Optional

import grpc.aio
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from grpc_status import rpc_status as _grpc_status


async def call_status(call: grpc.aio.Call) -> Optional[status_pb2.Status]:
    """The google.rpc.Status a finished (or, awaiting it, finishing) grpc.aio call ended with,
    if it sent one: for a stream held as a call object rather than an AioRpcError caught.
    The AioRpcError a failed call raises needs no awaiting: sessionstore_client.error_info
    and its siblings read it as they read a threaded call's. As there, a Status that does
    not decode, or whose code or message differ from the call's, counts as none."""
    try:
        return await _grpc_status.aio.from_call(call)
    except (DecodeError, ValueError):
        return None
