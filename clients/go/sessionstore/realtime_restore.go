package sessionstore

import (
	"cmp"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// A Realtime session cannot be resumed server-side: after a reconnect the
// bridge opens a new one and replays the stored conversation into it. The
// rules here are those of the TypeScript client's realtimeRestore
// (src/client/realtime-restore.ts) and the Python client's realtime_restore;
// all three pass test/fixtures/realtime-restore.json, and
// docs/REALTIME-RESTORE.md explains what is mapped and why.
//
// Event shapes follow the OpenAI Realtime API reference (GA),
// "conversation.item.create": user and system message content is input_text,
// assistant message content output_text (RealtimeConversationItemMessageAssistant
// in OpenAI's OpenAPI document: output_text or output_audio; the beta interface
// called it text); a call is a function_call item (call_id, name, arguments) answered by
// a function_call_output item (call_id, output). Item ids are at most 32
// characters.

// RealtimeSessionKey is the metadata key under which a bridge stores the
// session object of the session.update it sent.
const RealtimeSessionKey = "realtime_session"

// The Realtime API refuses longer item ids ("Expected a string with maximum length 32").
const maxItemIDLength = 32

// RestoreBudget is how much of the conversation to replay; the newest items
// are kept. A limit of 0 or less is no limit.
type RestoreBudget struct {
	// MaxItems is conversation items at most (a function call and its output count as two).
	MaxItems int
	// MaxChars is characters at most: message text, function name, arguments
	// and output, in Unicode code points, as in the TypeScript and Python clients.
	MaxChars int
}

// RealtimeEvent is one client event, ready for encoding/json.
type RealtimeEvent = map[string]any

// RealtimeRestore is what replays a stored conversation into a new Realtime session.
type RealtimeRestore struct {
	// Events to send in order: the stored session.update first, if any, then
	// the conversation, oldest first.
	Events []RealtimeEvent
	// UnansweredCalls are calls replayed without an output, oldest first: the
	// bridge answers each (re-runs the tool, or sends an output saying it was
	// cancelled) before asking the model for a response.
	UnansweredCalls []*pb.FunctionCall
	// DroppedItems is conversation items left out by the budget (a call and
	// its output count as two).
	DroppedItems int
}

// restoreUnit is a piece of the conversation kept or dropped whole: a message,
// or a call with its output.
type restoreUnit struct {
	items []map[string]any
	chars int
	call  *pb.FunctionCall
}

// RealtimeRestoreOf returns the client events that re-seed a new Realtime
// session with session's conversation. Pure.
func RealtimeRestoreOf(session *pb.Session, budget RestoreBudget) RealtimeRestore {
	units := conversationUnits(session)
	kept := newestWithin(units, budget)
	restore := RealtimeRestore{Events: []RealtimeEvent{}, UnansweredCalls: []*pb.FunctionCall{}}
	if stored, ok := session.GetMetadata().GetFields()[RealtimeSessionKey].GetKind().(*structpb.Value_StructValue); ok {
		restore.Events = append(restore.Events, RealtimeEvent{"type": "session.update", "session": stored.StructValue.AsMap()})
	}
	used := map[string]bool{}
	keptItems, allItems := 0, 0
	for _, unit := range units {
		allItems += len(unit.items)
	}
	for _, unit := range kept {
		keptItems += len(unit.items)
		for _, item := range unit.items {
			restore.Events = append(restore.Events, RealtimeEvent{"type": "conversation.item.create", "item": withUsableID(item, used)})
		}
		if unit.call != nil && len(unit.items) == 1 {
			restore.UnansweredCalls = append(restore.UnansweredCalls, unit.call)
		}
	}
	restore.DroppedItems = allItems - keptItems
	return restore
}

// conversationUnits is the history in order, with each function call where it
// happened: at the history item of type "function_call" whose data.call_id
// names it, or else by its created_at (after history items stored at the same
// instant, which is ambiguous; a marker item makes the order exact).
func conversationUnits(session *pb.Session) []restoreUnit {
	calls := map[string]*pb.FunctionCall{}
	for _, call := range session.GetFunctionCalls() {
		calls[call.GetCallId()] = call
	}
	marked := map[string]bool{}
	for _, item := range session.GetConversationHistory() {
		if callID, ok := markedCallID(item); ok && calls[callID] != nil {
			marked[callID] = true
		}
	}
	var unplaced []*pb.FunctionCall
	for _, call := range session.GetFunctionCalls() {
		if !marked[call.GetCallId()] {
			unplaced = append(unplaced, call)
		}
	}
	slices.SortStableFunc(unplaced, func(a, b *pb.FunctionCall) int { return compareTimes(a.GetCreatedAt(), b.GetCreatedAt()) })

	var units []restoreUnit
	placed := map[string]bool{}
	next := 0
	for _, item := range session.GetConversationHistory() {
		for ; next < len(unplaced) && compareTimes(unplaced[next].GetCreatedAt(), item.GetCreatedAt()) < 0; next++ {
			units = append(units, callUnit(unplaced[next], ""))
		}
		if callID, ok := markedCallID(item); ok {
			// A second marker for the same call would replay it twice.
			if call := calls[callID]; call != nil && !placed[callID] {
				placed[callID] = true
				units = append(units, callUnit(call, item.GetItemId()))
			}
			continue
		}
		if unit, ok := messageUnit(item); ok {
			units = append(units, unit)
		}
	}
	for _, call := range unplaced[next:] {
		units = append(units, callUnit(call, ""))
	}
	return units
}

// markedCallID is the call a history item of type "function_call" stands for, if it names one.
func markedCallID(item *pb.ConversationItem) (string, bool) {
	if item.GetType() != "function_call" {
		return "", false
	}
	callID, ok := item.GetData().GetFields()["call_id"].GetKind().(*structpb.Value_StringValue)
	if !ok {
		return "", false
	}
	return callID.StringValue, true
}

// messageUnit is a message the model can be given back: type "message" (or
// unset), role user, assistant or system, with text. The sidecar stores
// transcripts, not audio, so every message replays as text; other types (e.g.
// "dtmf") and roles are the bridge's own records.
func messageUnit(item *pb.ConversationItem) (restoreUnit, bool) {
	role, text := item.GetRole(), item.GetText()
	if (item.GetType() != "message" && item.GetType() != "") || text == "" || (role != "user" && role != "assistant" && role != "system") {
		return restoreUnit{}, false
	}
	part := "input_text"
	if role == "assistant" {
		part = "output_text"
	}
	content := []any{map[string]any{"type": part, "text": text}}
	message := map[string]any{"id": item.GetItemId(), "type": "message", "role": role, "content": content}
	return restoreUnit{items: []map[string]any{message}, chars: utf8.RuneCountInString(text)}, true
}

// callUnit is a call and, when it has a result, its output: kept or dropped together.
func callUnit(call *pb.FunctionCall, itemID string) restoreUnit {
	items := []map[string]any{{
		"id": itemID, "type": "function_call", "call_id": call.GetCallId(), "name": call.GetFunctionName(), "arguments": call.GetArguments(),
	}}
	if call.GetResult() != "" {
		items = append(items, map[string]any{"type": "function_call_output", "call_id": call.GetCallId(), "output": call.GetResult()})
	}
	chars := utf8.RuneCountInString(call.GetFunctionName()) + utf8.RuneCountInString(call.GetArguments()) + utf8.RuneCountInString(call.GetResult())
	return restoreUnit{items: items, chars: chars, call: call}
}

// newestWithin is the newest units that fit the budget; the first that does
// not fit ends the replay, so nothing older skips ahead.
func newestWithin(units []restoreUnit, budget RestoreBudget) []restoreUnit {
	items, chars := 0, 0
	first := len(units)
	for ; first > 0; first-- {
		unit := units[first-1]
		if budget.MaxItems > 0 && items+len(unit.items) > budget.MaxItems || budget.MaxChars > 0 && chars+unit.chars > budget.MaxChars {
			break
		}
		items += len(unit.items)
		chars += unit.chars
	}
	return units[first:]
}

// withUsableID is the item with its stored id if the API would take it (1–32
// characters, not used by an earlier item), else without one.
func withUsableID(item map[string]any, used map[string]bool) map[string]any {
	id, ok := item["id"].(string)
	if !ok {
		return item
	}
	out := make(map[string]any, len(item))
	for k, v := range item {
		if k != "id" {
			out[k] = v
		}
	}
	if id != "" && utf8.RuneCountInString(id) <= maxItemIDLength && !used[id] {
		used[id] = true
		out["id"] = id
	}
	return out
}

// compareTimes orders two timestamps; an unset one is the earliest.
func compareTimes(a, b *timestamppb.Timestamp) int {
	return cmp.Or(cmp.Compare(a.GetSeconds(), b.GetSeconds()), cmp.Compare(a.GetNanos(), b.GetNanos()))
}
