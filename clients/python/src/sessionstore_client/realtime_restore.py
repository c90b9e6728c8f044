"""realtime_restore: the OpenAI Realtime client events that re-seed a new model session
with a stored Session's conversation.

A Realtime session cannot be resumed server-side: after a reconnect the bridge opens a new
one and replays the stored conversation into it. The rules are those of the TypeScript
client's realtimeRestore (src/client/realtime-restore.ts) and the Go client's
RealtimeRestoreOf; all three pass test/fixtures/realtime-restore.json, and
docs/REALTIME-RESTORE.md explains what is mapped and why.

Event shapes follow the OpenAI Realtime API reference (GA), "conversation.item.create":
user and system message content is `input_text`, assistant message content `output_text`
(RealtimeConversationItemMessageAssistant in OpenAI's OpenAPI document: `output_text` or
`output_audio`; the beta interface called it `text`); a call is a `function_call` item (call_id,
name, arguments) answered by a `function_call_output` item (call_id, output). Item ids are
at most 32 characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from google.protobuf import json_format, timestamp_pb2

from sessionstore.v1 import session_store_pb2 as pb

# The metadata key under which a bridge stores the `session` object of the session.update it sent.
REALTIME_SESSION_KEY = "realtime_session"
# The Realtime API refuses longer item ids ("Expected a string with maximum length 32").
_MAX_ITEM_ID_LENGTH = 32
_ROLES = ("user", "assistant", "system")

Event = Dict[str, Any]


@dataclass(frozen=True)
class RestoreBudget:
    """How much of the conversation to replay; the newest items are kept. None, 0 or less: no limit.

    max_items: conversation items at most (a function call and its output count as two).
    max_chars: characters at most: message text, function name, arguments and output, in
        Unicode code points (len() of a str), as in the TypeScript and Go clients.
    """

    max_items: Optional[int] = None
    max_chars: Optional[int] = None


@dataclass(frozen=True)
class RealtimeRestore:
    """events: JSON-ready dicts to send in order (json.dumps each): the stored session.update
        first, if any, then the conversation, oldest first.
    unanswered_calls: calls replayed without an output, oldest first: the bridge answers each
        (re-runs the tool, or sends an output saying it was cancelled) before asking the model
        for a response.
    dropped_items: conversation items left out by the budget (a call and its output count as two).
    """

    events: List[Event] = field(default_factory=list)
    unanswered_calls: List[pb.FunctionCall] = field(default_factory=list)
    dropped_items: int = 0


@dataclass
class _Unit:
    """A piece of the conversation kept or dropped whole: a message, or a call with its output."""

    items: List[Event]
    chars: int
    call: Optional[pb.FunctionCall] = None


def realtime_restore(session: pb.Session, budget: Optional[RestoreBudget] = None) -> RealtimeRestore:
    """The client events that re-seed a new Realtime session with session's conversation. Pure."""
    units = _conversation_units(session)
    kept = _newest_within(units, budget or RestoreBudget())
    events: List[Event] = []
    stored = session.metadata.fields.get(REALTIME_SESSION_KEY)
    if stored is not None and stored.WhichOneof("kind") == "struct_value":
        events.append({"type": "session.update", "session": _integral(json_format.MessageToDict(stored.struct_value))})
    used: Set[str] = set()
    for unit in kept:
        events.extend({"type": "conversation.item.create", "item": _with_usable_id(item, used)} for item in unit.items)
    return RealtimeRestore(
        events=events,
        unanswered_calls=[unit.call for unit in kept if unit.call is not None and len(unit.items) == 1],
        dropped_items=sum(len(u.items) for u in units) - sum(len(u.items) for u in kept),
    )


def _conversation_units(session: pb.Session) -> List[_Unit]:
    """The history in order, with each function call where it happened: at the history item of
    type "function_call" whose data.call_id names it, or else by its created_at (after history
    items stored at the same instant, which is ambiguous; a marker item makes the order exact)."""
    calls = {call.call_id: call for call in session.function_calls}
    marked = {cid for cid in (_marked_call_id(item) for item in session.conversation_history) if cid in calls}
    unplaced = sorted((call for call in session.function_calls if call.call_id not in marked), key=lambda call: _time(call.created_at))

    units: List[_Unit] = []
    placed: Set[str] = set()
    next_call = 0
    for item in session.conversation_history:
        while next_call < len(unplaced) and _time(unplaced[next_call].created_at) < _time(item.created_at):
            units.append(_call_unit(unplaced[next_call], ""))
            next_call += 1
        call_id = _marked_call_id(item)
        if call_id is not None:
            # A second marker for the same call would replay it twice.
            if call_id in calls and call_id not in placed:
                placed.add(call_id)
                units.append(_call_unit(calls[call_id], item.item_id))
            continue
        message = _message_unit(item)
        if message is not None:
            units.append(message)
    units.extend(_call_unit(call, "") for call in unplaced[next_call:])
    return units


def _marked_call_id(item: pb.ConversationItem) -> Optional[str]:
    """The call a history item of type "function_call" stands for, if it names one."""
    if item.type != "function_call":
        return None
    value = item.data.fields.get("call_id")
    return value.string_value if value is not None and value.WhichOneof("kind") == "string_value" else None


def _message_unit(item: pb.ConversationItem) -> Optional[_Unit]:
    """A message the model can be given back: type "message" (or unset), role user, assistant
    or system, with text. The sidecar stores transcripts, not audio, so every message replays
    as text; other types (e.g. "dtmf") and roles are the bridge's own records."""
    if item.type not in ("message", "") or item.text == "" or item.role not in _ROLES:
        return None
    part = "output_text" if item.role == "assistant" else "input_text"
    message = {"id": item.item_id, "type": "message", "role": item.role, "content": [{"type": part, "text": item.text}]}
    return _Unit(items=[message], chars=len(item.text))


def _call_unit(call: pb.FunctionCall, item_id: str) -> _Unit:
    """A call and, when it has a result, its output: kept or dropped together."""
    items: List[Event] = [
        {"id": item_id, "type": "function_call", "call_id": call.call_id, "name": call.function_name, "arguments": call.arguments}
    ]
    if call.result != "":
        items.append({"type": "function_call_output", "call_id": call.call_id, "output": call.result})
    return _Unit(items=items, chars=len(call.function_name) + len(call.arguments) + len(call.result), call=call)


def _newest_within(units: List[_Unit], budget: RestoreBudget) -> List[_Unit]:
    """The newest units that fit the budget; the first that does not fit ends the replay, so
    nothing older skips ahead."""
    max_items = budget.max_items if budget.max_items is not None and budget.max_items > 0 else float("inf")
    max_chars = budget.max_chars if budget.max_chars is not None and budget.max_chars > 0 else float("inf")
    items = chars = 0
    first = len(units)
    while first > 0:
        unit = units[first - 1]
        if items + len(unit.items) > max_items or chars + unit.chars > max_chars:
            break
        items += len(unit.items)
        chars += unit.chars
        first -= 1
    return units[first:]


def _with_usable_id(item: Event, used: Set[str]) -> Event:
    """The item with its stored id if the API would take it (1-32 characters, not used by an
    earlier item), else without one."""
    if "id" not in item:
        return item
    rest = {k: v for k, v in item.items() if k != "id"}
    item_id = item["id"]
    if item_id == "" or len(item_id) > _MAX_ITEM_ID_LENGTH or item_id in used:
        return rest
    used.add(item_id)
    return {"id": item_id, **rest}


def _integral(value: Any) -> Any:
    """value with whole floats as ints: a Struct holds every number as a double, and json.dumps
    would send 4096 as 4096.0 to fields the API types as integers (JavaScript and Go print 4096)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _time(ts: timestamp_pb2.Timestamp) -> Tuple[int, int]:
    """A Timestamp's order; an unset one is the earliest."""
    return (ts.seconds, ts.nanos)
