"""What UpdateStream reports: refusals, stopped sessions, a failed stream, counters."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

from .errors import error_info

_CODES = {code.value[0]: code for code in grpc.StatusCode}


class UpdateRefused(Exception):
    """The sidecar refused one update. `reason` is its ErrorInfo reason."""

    def __init__(self, conversation_id: str, seq: int, status: status_pb2.Status) -> None:
        self.conversation_id = conversation_id
        self.seq = seq
        self.status = status
        self.code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
        # Always an ErrorInfo (empty if the sidecar sent none), so `.info.metadata` needs no check.
        self.info = error_info(status) or error_details_pb2.ErrorInfo()
        self.reason = self.info.reason
        super().__init__(f"{conversation_id} seq {seq}: {self.code.name} {self.reason}: {status.message}")


class SessionStopped(Exception):
    """The session takes no more writes from this stream: it was fenced (another
    bridge resumed it) or it ended. `reason` is SESSION_FENCED or SESSION_ENDED."""

    def __init__(self, conversation_id: str, reason: str) -> None:
        self.conversation_id = conversation_id
        self.reason = reason
        super().__init__(f"{conversation_id}: writes stopped ({reason})")


class StreamFailed(Exception):
    """The stream ended with a status that reconnecting would not cure (e.g. UNAUTHENTICATED),
    or it was closed before the update was acknowledged."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(f"update stream failed: {code.name}: {details}")


@dataclass
class StopInfo:
    """Why a session stopped taking writes; passed to on_fenced / on_ended."""

    conversation_id: str
    reason: str
    error: UpdateRefused
    # Unacknowledged updates of the session that were dropped (each future fails with SessionStopped).
    dropped: int


@dataclass
class Stats:
    acked: int = 0  # acks of applied updates and of duplicates
    duplicates: int = 0  # of those, updates the sidecar already had (re-sent after a reconnect)
    refused: int = 0  # error acks other than OVERLOADED: the update failed
    reconnects: int = 0  # streams opened after the first
    replayed: int = 0  # updates re-sent on a reopened stream
    overloaded: int = 0  # OVERLOADED acks: each such update was held and sent again later
