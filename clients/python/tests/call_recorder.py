"""CallRecorder: what a client sends on its streams, seen from the client's side of the channel."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, List, Mapping, Optional, Tuple

import grpc
import grpc.aio

import sessionstore_client as ss

pb = ss.pb
STREAM_UPDATES = "/sessionstore.v1.SessionStoreService/StreamUpdates"
STREAM_UPDATE_BATCHES = "/sessionstore.v1.SessionStoreService/StreamUpdateBatches"


@dataclass
class RecordedCall:
    method: str  # as the client asked for it, before any renaming
    requests: List[Any] = field(default_factory=list)
    code: Optional[grpc.StatusCode] = None  # how the call ended (AioCallRecorder only), once it has

    def updates(self) -> List[pb.SessionUpdate]:
        """The updates the call sent, in order, whatever the RPC."""
        if self.method == STREAM_UPDATE_BATCHES:
            return [update for request in self.requests for update in request.updates]
        return list(self.requests)


class _Details(
    collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    """A call's details with the method replaced (gRPC documents this namedtuple pattern)."""


class CallRecorder(grpc.StreamStreamClientInterceptor):
    """Records every streaming call of a channel with the requests it sends. A method in
    `rename` is called under its new name instead, so that the real sidecar answers it as
    an older one without that method would: UNIMPLEMENTED."""

    def __init__(self, rename: Optional[Mapping[str, str]] = None) -> None:
        self.calls: List[RecordedCall] = []
        self._rename = dict(rename or {})

    @property
    def methods(self) -> List[str]:
        return [call.method for call in self.calls]

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request_iterator: Iterator[Any]
    ) -> Any:
        call = RecordedCall(details.method)
        self.calls.append(call)
        renamed = _Details(
            self._rename.get(details.method, details.method),
            details.timeout,
            details.metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )
        return continuation(renamed, _recording(request_iterator, call.requests))


def _recording(requests: Iterator[Any], sent: List[Any]) -> Iterator[Any]:
    for request in requests:
        sent.append(request)
        yield request


@contextlib.contextmanager
def recording_stub(address: str, rename: Optional[Mapping[str, str]] = None) -> Iterator[Tuple[ss.SessionStoreServiceStub, CallRecorder]]:
    """A stub of the sidecar at `address` whose streams a CallRecorder records."""
    recorder = CallRecorder(rename)
    channel = ss.open_channel(address)
    try:
        yield ss.SessionStoreServiceStub(grpc.intercept_channel(channel, recorder)), recorder
    finally:
        channel.close()


class AioCallRecorder(grpc.aio.StreamStreamClientInterceptor):
    """CallRecorder for a grpc.aio channel (whose call details name the method in bytes)."""

    def __init__(self, rename: Optional[Mapping[str, str]] = None) -> None:
        self.calls: List[RecordedCall] = []
        self._rename = dict(rename or {})

    @property
    def methods(self) -> List[str]:
        return [call.method for call in self.calls]

    async def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, request_iterator: AsyncIterator[Any]) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        call = RecordedCall(method)
        self.calls.append(call)
        renamed = details._replace(method=self._rename.get(method, method).encode())
        started = await continuation(renamed, _recording_async(request_iterator, call.requests))
        started.add_done_callback(lambda done: asyncio.ensure_future(_record_code(done, call)))
        return started


async def _record_code(done: Any, call: RecordedCall) -> None:
    call.code = await done.code()  # the call is over: this returns at once


async def _recording_async(requests: AsyncIterator[Any], sent: List[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        sent.append(request)
        yield request
