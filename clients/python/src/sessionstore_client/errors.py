"""Reading why the sidecar refused a call.

Every refusal carries a google.rpc.Status in the `grpc-status-details-bin`
trailer (or, for a StreamUpdates ack, in `UpdateAck.error`) whose details hold
a google.rpc.ErrorInfo: `reason` is the stable thing to branch on
(SESSION_NOT_FOUND, SESSION_FENCED, ...) and `metadata` has specifics such as
the current owner_epoch.
"""

from __future__ import annotations

from typing import Optional, Type, TypeVar, Union

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status as _grpc_status

DOMAIN = "sessionstore"

M = TypeVar("M", bound=Message)
ErrorSource = Union[grpc.RpcError, status_pb2.Status, None]


def rpc_status(err: ErrorSource) -> Optional[status_pb2.Status]:
    """The google.rpc.Status of a failed call (or an ack's error), if it sent one.

    `err` may be a grpcio error (a failed unary call or a broken stream, sync or
    grpc.aio: both carry their status without awaiting) or a Status already. grpcio-status
    reads it from the trailers; one that does not decode, or whose code or message
    differ from the call's own, is no statement of the sidecar's and counts as none."""
    if err is None or isinstance(err, status_pb2.Status):
        return err
    # Only a grpc.Call has trailers (an RpcError raised before any call, e.g. by an interceptor, has none).
    if not callable(getattr(err, "trailing_metadata", None)):
        return None
    try:
        return _grpc_status.from_call(err)
    except (DecodeError, ValueError):
        return None


def _detail(err: ErrorSource, kind: Type[M]) -> Optional[M]:
    status = rpc_status(err)
    for any_detail in status.details if status else ():
        if any_detail.Is(kind.DESCRIPTOR):
            detail = kind()
            any_detail.Unpack(detail)
            return detail
    return None


def error_info(err: ErrorSource) -> Optional[error_details_pb2.ErrorInfo]:
    """The ErrorInfo of a failed call or of an UpdateAck's `error`; None when there is none."""
    return _detail(err, error_details_pb2.ErrorInfo)


def error_reason(err: ErrorSource) -> str:
    """ErrorInfo.reason, or "" when the error has no ErrorInfo (e.g. the sidecar is unreachable)."""
    info = error_info(err)
    return info.reason if info else ""


def bad_request(err: ErrorSource) -> Optional[error_details_pb2.BadRequest]:
    """The fields an INVALID_ARGUMENT refusal names."""
    return _detail(err, error_details_pb2.BadRequest)


def retry_info(err: ErrorSource) -> Optional[error_details_pb2.RetryInfo]:
    """How long to wait before trying again, for a refusal that says (OVERLOADED does)."""
    return _detail(err, error_details_pb2.RetryInfo)
