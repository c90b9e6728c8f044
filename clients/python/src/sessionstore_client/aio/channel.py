"""Opening a grpc.aio channel to a sidecar, with the same arguments as the threaded open_channel."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import grpc
import grpc.aio

from ..channel import DEFAULT_OPTIONS, bearer_header, channel_credentials


def open_channel(
    address: str,
    *,
    token: Optional[str] = None,
    options: Sequence[Tuple[str, Any]] = (),
    tls: bool = False,
    ca: Optional[bytes] = None,
    cert: Optional[bytes] = None,
    key: Optional[bytes] = None,
) -> grpc.aio.Channel:
    """A grpc.aio channel to a sidecar; the arguments are sessionstore_client.open_channel's
    (plaintext unless `tls`, `ca` or `cert`/`key` ask for TLS; `token` as bearer metadata;
    later options win over DEFAULT_OPTIONS). Close it with `await channel.close()` or
    `async with`. Calls on it are coroutines: `await stub.GetSession(...)`."""
    credentials = channel_credentials(tls=tls, ca=ca, cert=cert, key=key)
    all_options = [*DEFAULT_OPTIONS, *options]
    interceptors = _token_interceptors(token) if token else None
    if credentials is not None:
        return grpc.aio.secure_channel(address, credentials, options=all_options, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, options=all_options, interceptors=interceptors)


class _BearerToken:
    """Adds the token as metadata, the same way on plaintext and TLS channels: gRPC's
    CallCredentials refuse plaintext ones."""

    def __init__(self, token: str) -> None:
        self._header = bearer_header(token)

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return details._replace(metadata=grpc.aio.Metadata(*(details.metadata or ()), self._header))

    async def _intercept(self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return await continuation(self._with_token(details), request)


# grpc.aio files each interceptor under the first of the four kinds it is an instance of,
# so one object that is all four would see unary calls only: one class per kind.
class _UnaryUnaryToken(_BearerToken, grpc.aio.UnaryUnaryClientInterceptor):
    intercept_unary_unary = _BearerToken._intercept


class _UnaryStreamToken(_BearerToken, grpc.aio.UnaryStreamClientInterceptor):
    intercept_unary_stream = _BearerToken._intercept


class _StreamUnaryToken(_BearerToken, grpc.aio.StreamUnaryClientInterceptor):
    intercept_stream_unary = _BearerToken._intercept


class _StreamStreamToken(_BearerToken, grpc.aio.StreamStreamClientInterceptor):
    intercept_stream_stream = _BearerToken._intercept


def _token_interceptors(token: str) -> List[Any]:
    return [kind(token) for kind in (_UnaryUnaryToken, _UnaryStreamToken, _StreamUnaryToken, _StreamStreamToken)]
