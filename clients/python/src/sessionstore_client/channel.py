"""Opening a channel to a sidecar."""

from __future__ import annotations

import collections
from typing import Any, Callable, Optional, Sequence, Tuple

import grpc

DEFAULT_OPTIONS: Tuple[Tuple[str, Any], ...] = (
    # FULL sessions with long histories and audio exceed gRPC's 4 MiB default.
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # gRPC waits up to 2 minutes between reconnects by default, failing calls at
    # once meanwhile; a sidecar on loopback that restarts is back within a second.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def open_channel(
    address: str,
    *,
    token: Optional[str] = None,
    options: Sequence[Tuple[str, Any]] = (),
    tls: bool = False,
    ca: Optional[bytes] = None,
    cert: Optional[bytes] = None,
    key: Optional[bytes] = None,
) -> grpc.Channel:
    """A channel to a sidecar, sending `authorization: Bearer <token>` when a token is given.
    Later options win over DEFAULT_OPTIONS.

    Plaintext by default, as a sidecar on loopback or a unix socket (`unix:/path`) is
    reached. TLS, for its --tls-listen address, when `tls` is true or any of `ca` (PEM
    CA certificates its certificate must chain to; the system roots when absent),
    `cert` and `key` (PEM client certificate and its key, for a sidecar that requires
    client certificates) is given."""
    credentials = channel_credentials(tls=tls, ca=ca, cert=cert, key=key)
    all_options = [*DEFAULT_OPTIONS, *options]
    if credentials is not None:
        channel = grpc.secure_channel(address, credentials, options=all_options)
    else:
        channel = grpc.insecure_channel(address, options=all_options)
    if token:
        channel = grpc.intercept_channel(channel, _BearerToken(token))
    return channel


def channel_credentials(
    *, tls: bool, ca: Optional[bytes], cert: Optional[bytes], key: Optional[bytes]
) -> Optional[grpc.ChannelCredentials]:
    """The TLS credentials open_channel's arguments ask for (also aio.open_channel's); None for plaintext."""
    if (cert is None) != (key is None):
        raise ValueError("cert and key go together: a client certificate needs its key")
    if tls or ca is not None or cert is not None:
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    return None


def bearer_header(token: str) -> Tuple[str, str]:
    """The metadata a token travels as, on both kinds of channel."""
    return ("authorization", f"Bearer {token}")


class _Details(
    collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    """A call's details with the metadata replaced (gRPC documents this namedtuple pattern)."""


class _BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the token as metadata, the same way on plaintext and TLS channels: gRPC's
    CallCredentials refuse plaintext ones."""

    def __init__(self, token: str) -> None:
        self._header = bearer_header(token)

    def _with_token(self, details: grpc.ClientCallDetails) -> _Details:
        metadata = [*(details.metadata or ()), self._header]
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def _intercept(self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    intercept_unary_unary = _intercept
    intercept_unary_stream = _intercept
    intercept_stream_unary = _intercept
    intercept_stream_stream = _intercept
