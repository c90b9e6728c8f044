import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATUS_UNSPECIFIED: _ClassVar[SessionStatus]
    SESSION_STATUS_INITIATED: _ClassVar[SessionStatus]
    SESSION_STATUS_ACTIVE: _ClassVar[SessionStatus]
    SESSION_STATUS_PAUSED: _ClassVar[SessionStatus]
    SESSION_STATUS_ENDED: _ClassVar[SessionStatus]
    SESSION_STATUS_ERROR: _ClassVar[SessionStatus]

class SessionView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_VIEW_UNSPECIFIED: _ClassVar[SessionView]
    SESSION_VIEW_BASIC: _ClassVar[SessionView]
    SESSION_VIEW_FULL: _ClassVar[SessionView]

class SessionEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_EVENT_TYPE_UNSPECIFIED: _ClassVar[SessionEventType]
    SESSION_EVENT_TYPE_CREATED: _ClassVar[SessionEventType]
    SESSION_EVENT_TYPE_RESUMED: _ClassVar[SessionEventType]
    SESSION_EVENT_TYPE_UPDATED: _ClassVar[SessionEventType]
    SESSION_EVENT_TYPE_ENDED: _ClassVar[SessionEventType]
    SESSION_EVENT_TYPE_DELETED: _ClassVar[SessionEventType]
    SESSION_EVENT_TYPE_EXPIRED: _ClassVar[SessionEventType]
    SESSION_EVENT_TYPE_FENCED: _ClassVar[SessionEventType]
SESSION_STATUS_UNSPECIFIED: SessionStatus
SESSION_STATUS_INITIATED: SessionStatus
SESSION_STATUS_ACTIVE: SessionStatus
SESSION_STATUS_PAUSED: SessionStatus
SESSION_STATUS_ENDED: SessionStatus
SESSION_STATUS_ERROR: SessionStatus
SESSION_VIEW_UNSPECIFIED: SessionView
SESSION_VIEW_BASIC: SessionView
SESSION_VIEW_FULL: SessionView
SESSION_EVENT_TYPE_UNSPECIFIED: SessionEventType
SESSION_EVENT_TYPE_CREATED: SessionEventType
SESSION_EVENT_TYPE_RESUMED: SessionEventType
SESSION_EVENT_TYPE_UPDATED: SessionEventType
SESSION_EVENT_TYPE_ENDED: SessionEventType
SESSION_EVENT_TYPE_DELETED: SessionEventType
SESSION_EVENT_TYPE_EXPIRED: SessionEventType
SESSION_EVENT_TYPE_FENCED: SessionEventType

class ConversationItem(_message.Message):
    __slots__ = ("item_id", "role", "type", "text", "data", "created_at")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    role: str
    type: str
    text: str
    data: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, item_id: _Optional[str] = ..., role: _Optional[str] = ..., type: _Optional[str] = ..., text: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FunctionCall(_message.Message):
    __slots__ = ("call_id", "function_name", "arguments", "status", "result", "created_at")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    function_name: str
    arguments: str
    status: str
    result: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, call_id: _Optional[str] = ..., function_name: _Optional[str] = ..., arguments: _Optional[str] = ..., status: _Optional[str] = ..., result: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("data", "seq", "created_at")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    seq: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, data: _Optional[bytes] = ..., seq: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("conversation_id", "session_id", "bridge_type", "bot_name", "caller", "media_format", "status", "created_at", "last_activity", "resumed_count", "conversation_history", "current_turn", "function_calls", "audio_buffer", "audio_metadata", "metadata", "openai_session_id", "openai_conversation_id", "active_response_id", "error_count", "last_error", "end_reason", "etag", "owner_id", "owner_epoch", "last_seq", "history_bytes")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    BRIDGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    BOT_NAME_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FORMAT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    RESUMED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_HISTORY_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TURN_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_CALLS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_BUFFER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_METADATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    OPENAI_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OPENAI_CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    HISTORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    session_id: str
    bridge_type: str
    bot_name: str
    caller: str
    media_format: str
    status: SessionStatus
    created_at: _timestamp_pb2.Timestamp
    last_activity: _timestamp_pb2.Timestamp
    resumed_count: int
    conversation_history: _containers.RepeatedCompositeFieldContainer[ConversationItem]
    current_turn: int
    function_calls: _containers.RepeatedCompositeFieldContainer[FunctionCall]
    audio_buffer: _containers.RepeatedCompositeFieldContainer[AudioChunk]
    audio_metadata: _struct_pb2.Struct
    metadata: _struct_pb2.Struct
    openai_session_id: str
    openai_conversation_id: str
    active_response_id: str
    error_count: int
    last_error: str
    end_reason: str
    etag: str
    owner_id: str
    owner_epoch: int
    last_seq: int
    history_bytes: int
    def __init__(self, conversation_id: _Optional[str] = ..., session_id: _Optional[str] = ..., bridge_type: _Optional[str] = ..., bot_name: _Optional[str] = ..., caller: _Optional[str] = ..., media_format: _Optional[str] = ..., status: _Optional[_Union[SessionStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resumed_count: _Optional[int] = ..., conversation_history: _Optional[_Iterable[_Union[ConversationItem, _Mapping]]] = ..., current_turn: _Optional[int] = ..., function_calls: _Optional[_Iterable[_Union[FunctionCall, _Mapping]]] = ..., audio_buffer: _Optional[_Iterable[_Union[AudioChunk, _Mapping]]] = ..., audio_metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., openai_session_id: _Optional[str] = ..., openai_conversation_id: _Optional[str] = ..., active_response_id: _Optional[str] = ..., error_count: _Optional[int] = ..., last_error: _Optional[str] = ..., end_reason: _Optional[str] = ..., etag: _Optional[str] = ..., owner_id: _Optional[str] = ..., owner_epoch: _Optional[int] = ..., last_seq: _Optional[int] = ..., history_bytes: _Optional[int] = ...) -> None: ...

class SessionUpdate(_message.Message):
    __slots__ = ("conversation_id", "owner_epoch", "seq", "etag", "update_mask", "session", "append_history", "upsert_function_calls", "append_audio", "edit_history")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    APPEND_HISTORY_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FUNCTION_CALLS_FIELD_NUMBER: _ClassVar[int]
    APPEND_AUDIO_FIELD_NUMBER: _ClassVar[int]
    EDIT_HISTORY_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    owner_epoch: int
    seq: int
    etag: str
    update_mask: _field_mask_pb2.FieldMask
    session: Session
    append_history: _containers.RepeatedCompositeFieldContainer[ConversationItem]
    upsert_function_calls: _containers.RepeatedCompositeFieldContainer[FunctionCall]
    append_audio: _containers.RepeatedCompositeFieldContainer[AudioChunk]
    edit_history: _containers.RepeatedCompositeFieldContainer[HistoryEdit]
    def __init__(self, conversation_id: _Optional[str] = ..., owner_epoch: _Optional[int] = ..., seq: _Optional[int] = ..., etag: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., session: _Optional[_Union[Session, _Mapping]] = ..., append_history: _Optional[_Iterable[_Union[ConversationItem, _Mapping]]] = ..., upsert_function_calls: _Optional[_Iterable[_Union[FunctionCall, _Mapping]]] = ..., append_audio: _Optional[_Iterable[_Union[AudioChunk, _Mapping]]] = ..., edit_history: _Optional[_Iterable[_Union[HistoryEdit, _Mapping]]] = ...) -> None: ...

class HistoryEdit(_message.Message):
    __slots__ = ("item_id", "update_mask", "text", "data")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    update_mask: _field_mask_pb2.FieldMask
    text: str
    data: _struct_pb2.Struct
    def __init__(self, item_id: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., text: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class HistoryWindow(_message.Message):
    __slots__ = ("last_items", "after_item_id")
    LAST_ITEMS_FIELD_NUMBER: _ClassVar[int]
    AFTER_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    last_items: int
    after_item_id: str
    def __init__(self, last_items: _Optional[int] = ..., after_item_id: _Optional[str] = ...) -> None: ...

class UpdateAck(_message.Message):
    __slots__ = ("conversation_id", "seq", "etag", "error", "applied")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    seq: int
    etag: str
    error: _status_pb2.Status
    applied: bool
    def __init__(self, conversation_id: _Optional[str] = ..., seq: _Optional[int] = ..., etag: _Optional[str] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., applied: bool = ...) -> None: ...

class StreamUpdateBatchesRequest(_message.Message):
    __slots__ = ("updates",)
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[SessionUpdate]
    def __init__(self, updates: _Optional[_Iterable[_Union[SessionUpdate, _Mapping]]] = ...) -> None: ...

class StreamUpdateBatchesResponse(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[UpdateAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[UpdateAck, _Mapping]]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("session", "owner_id")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    session: Session
    owner_id: str
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., owner_id: _Optional[str] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("conversation_id", "view", "history_window")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    HISTORY_WINDOW_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    view: SessionView
    history_window: HistoryWindow
    def __init__(self, conversation_id: _Optional[str] = ..., view: _Optional[_Union[SessionView, str]] = ..., history_window: _Optional[_Union[HistoryWindow, _Mapping]] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session", "history_truncated")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    HISTORY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    session: Session
    history_truncated: bool
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., history_truncated: bool = ...) -> None: ...

class ResumeSessionRequest(_message.Message):
    __slots__ = ("conversation_id", "owner_id", "create_if_missing", "session", "view", "history_window")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    HISTORY_WINDOW_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    owner_id: str
    create_if_missing: bool
    session: Session
    view: SessionView
    history_window: HistoryWindow
    def __init__(self, conversation_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., create_if_missing: bool = ..., session: _Optional[_Union[Session, _Mapping]] = ..., view: _Optional[_Union[SessionView, str]] = ..., history_window: _Optional[_Union[HistoryWindow, _Mapping]] = ...) -> None: ...

class ResumeSessionResponse(_message.Message):
    __slots__ = ("session", "created", "history_truncated")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    HISTORY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    session: Session
    created: bool
    history_truncated: bool
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., created: bool = ..., history_truncated: bool = ...) -> None: ...

class ValidateResumeRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class ValidateResumeResponse(_message.Message):
    __slots__ = ("valid", "reason", "code")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: str
    code: str
    def __init__(self, valid: bool = ..., reason: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class UpdateSessionRequest(_message.Message):
    __slots__ = ("update",)
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    update: SessionUpdate
    def __init__(self, update: _Optional[_Union[SessionUpdate, _Mapping]] = ...) -> None: ...

class UpdateSessionResponse(_message.Message):
    __slots__ = ("session", "applied")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    session: Session
    applied: bool
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., applied: bool = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("conversation_id", "reason", "owner_epoch", "etag")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OWNER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    reason: str
    owner_epoch: int
    etag: str
    def __init__(self, conversation_id: _Optional[str] = ..., reason: _Optional[str] = ..., owner_epoch: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class DeleteSessionRequest(_message.Message):
    __slots__ = ("conversation_id", "etag")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    etag: str
    def __init__(self, conversation_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "statuses", "bridge_type", "view")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    BRIDGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    statuses: _containers.RepeatedScalarFieldContainer[SessionStatus]
    bridge_type: str
    view: SessionView
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[SessionStatus, str]]] = ..., bridge_type: _Optional[str] = ..., view: _Optional[_Union[SessionView, str]] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CleanupSessionsRequest(_message.Message):
    __slots__ = ("max_age", "dry_run")
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    max_age: _duration_pb2.Duration
    dry_run: bool
    def __init__(self, max_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., dry_run: bool = ...) -> None: ...

class CleanupSessionsResponse(_message.Message):
    __slots__ = ("deleted_count",)
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    def __init__(self, deleted_count: _Optional[int] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusCount(_message.Message):
    __slots__ = ("status", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: SessionStatus
    count: int
    def __init__(self, status: _Optional[_Union[SessionStatus, str]] = ..., count: _Optional[int] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("active_sessions", "total_sessions", "resumed_sessions", "failed_resumes", "cleanup_count", "status_counts")
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    RESUMED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    FAILED_RESUMES_FIELD_NUMBER: _ClassVar[int]
    CLEANUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_COUNTS_FIELD_NUMBER: _ClassVar[int]
    active_sessions: int
    total_sessions: int
    resumed_sessions: int
    failed_resumes: int
    cleanup_count: int
    status_counts: _containers.RepeatedCompositeFieldContainer[StatusCount]
    def __init__(self, active_sessions: _Optional[int] = ..., total_sessions: _Optional[int] = ..., resumed_sessions: _Optional[int] = ..., failed_resumes: _Optional[int] = ..., cleanup_count: _Optional[int] = ..., status_counts: _Optional[_Iterable[_Union[StatusCount, _Mapping]]] = ...) -> None: ...

class WatchSessionsRequest(_message.Message):
    __slots__ = ("conversation_id", "statuses")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    statuses: _containers.RepeatedScalarFieldContainer[SessionStatus]
    def __init__(self, conversation_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[SessionStatus, str]]] = ...) -> None: ...

class WatchSessionsResponse(_message.Message):
    __slots__ = ("type", "session", "time")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    type: SessionEventType
    session: Session
    time: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[_Union[SessionEventType, str]] = ..., session: _Optional[_Union[Session, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
