import type { JsonObject } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { ConversationItem, FunctionCall, Session } from "../gen/sessionstore/v1/session_store_pb.js";

/*
 * A speech-to-speech session such as the OpenAI Realtime API's cannot be resumed server-side:
 * after a reconnect the bridge opens a new one and replays the stored conversation into it. This
 * file turns a stored Session into those client events. The same rules are implemented by the
 * Python (sessionstore_client/realtime_restore.py) and Go (sessionstore/realtime_restore.go)
 * clients, and all three pass test/fixtures/realtime-restore.json; docs/REALTIME-RESTORE.md is
 * the reference for what is mapped and why.
 *
 * Event shapes follow the OpenAI Realtime API reference (GA), "conversation.item.create": a
 * message's content parts are `input_text` for user and system messages and `output_text` for
 * assistant messages (RealtimeConversationItemMessageAssistant in OpenAI's OpenAPI document:
 * `output_text` or `output_audio`; the beta interface called it `text`);
 * function calls are `function_call` items (call_id, name, arguments) answered by
 * `function_call_output` items (call_id, output). Item ids are at most 32 characters there.
 */

/** The metadata key under which a bridge stores the `session` object of the session.update it sent. */
export const REALTIME_SESSION_KEY = "realtime_session";
/** The Realtime API refuses longer item ids ("Expected a string with maximum length 32"). */
const MAX_ITEM_ID_LENGTH = 32;

/** How much of the conversation to replay; the newest items are kept. Unset, 0 or less: no limit. */
export interface RestoreBudget {
  /** Conversation items replayed at most (a function call and its output count as two). */
  maxItems?: number;
  /** Characters replayed at most: message text, function name, arguments and output, in Unicode code points. */
  maxChars?: number;
}

export type RealtimeContentPart = { type: "input_text"; text: string } | { type: "output_text"; text: string };

export type RealtimeItem =
  | { id?: string; type: "message"; role: "user" | "assistant" | "system"; content: RealtimeContentPart[] }
  | { id?: string; type: "function_call"; call_id: string; name: string; arguments: string }
  | { type: "function_call_output"; call_id: string; output: string };

export type RealtimeClientEvent =
  | { type: "session.update"; session: JsonObject }
  | { type: "conversation.item.create"; item: RealtimeItem };

export interface RealtimeRestore {
  /** To send in order: the stored session.update first (if any), then the conversation, oldest first. */
  events: RealtimeClientEvent[];
  /**
   * Calls replayed without an output, oldest first: the bridge answers each (re-runs the tool, or
   * sends an output saying it was cancelled) before asking the model for a response.
   */
  unansweredCalls: FunctionCall[];
  /** Conversation items left out by the budget (a call and its output count as two). */
  droppedItems: number;
}

/** One piece of the conversation that is kept or dropped whole: a message, or a call with its output. */
interface Unit {
  items: RealtimeItem[];
  chars: number;
  call?: FunctionCall;
}

/** The client events that re-seed a new Realtime session with `session`'s conversation. Pure. */
export function realtimeRestore(session: Session, budget: RestoreBudget = {}): RealtimeRestore {
  const units = conversationUnits(session);
  const kept = newestWithin(units, budget);
  const events: RealtimeClientEvent[] = [];
  const stored = session.metadata?.[REALTIME_SESSION_KEY];
  if (isJsonObject(stored)) events.push({ type: "session.update", session: stored });
  const usedIds = new Set<string>();
  for (const unit of kept) {
    for (const item of unit.items) events.push({ type: "conversation.item.create", item: withUsableId(item, usedIds) });
  }
  const keptItems = kept.reduce((n, unit) => n + unit.items.length, 0);
  const allItems = units.reduce((n, unit) => n + unit.items.length, 0);
  return {
    events,
    unansweredCalls: kept.flatMap((unit) => (unit.call && unit.items.length === 1 ? [unit.call] : [])),
    droppedItems: allItems - keptItems,
  };
}

/**
 * The history in order, with each function call where it happened: at the history item of type
 * "function_call" whose data.call_id names it, or else by its created_at (after history items
 * stored at the same instant, which is ambiguous; a marker item makes the order exact).
 */
function conversationUnits(session: Session): Unit[] {
  const calls = new Map(session.functionCalls.map((call) => [call.callId, call]));
  const placed = new Set<string>();
  for (const item of session.conversationHistory) {
    const callId = markedCallId(item);
    if (callId !== undefined && calls.has(callId)) placed.add(callId);
  }
  const unplaced = session.functionCalls
    .filter((call) => !placed.has(call.callId))
    .map((call, index) => ({ call, index }))
    .sort((a, b) => compareTimes(a.call.createdAt, b.call.createdAt) || a.index - b.index)
    .map(({ call }) => call);

  const units: Unit[] = [];
  let next = 0;
  const placedHere = new Set<string>();
  for (const item of session.conversationHistory) {
    while (next < unplaced.length && compareTimes(unplaced[next]!.createdAt, item.createdAt) < 0) units.push(callUnit(unplaced[next++]!, ""));
    const callId = markedCallId(item);
    if (callId !== undefined) {
      const call = calls.get(callId);
      // A second marker for the same call would replay it twice.
      if (call && !placedHere.has(callId)) {
        placedHere.add(callId);
        units.push(callUnit(call, item.itemId));
      }
      continue;
    }
    const message = messageUnit(item);
    if (message) units.push(message);
  }
  while (next < unplaced.length) units.push(callUnit(unplaced[next++]!, ""));
  return units;
}

/** The call a history item of type "function_call" stands for, if it names one. */
function markedCallId(item: ConversationItem): string | undefined {
  if (item.type !== "function_call") return undefined;
  const callId = item.data?.["call_id"];
  return typeof callId === "string" ? callId : undefined;
}

/**
 * A message the model can be given back: type "message" (or unset), role user, assistant or
 * system, with text. The sidecar stores transcripts, not audio, so every message replays as text;
 * other types (e.g. "dtmf") and roles are the bridge's own records, not the model's conversation.
 */
function messageUnit(item: ConversationItem): Unit | undefined {
  if ((item.type !== "message" && item.type !== "") || item.text === "") return undefined;
  if (item.role !== "user" && item.role !== "assistant" && item.role !== "system") return undefined;
  const content: RealtimeContentPart[] = [{ type: item.role === "assistant" ? "output_text" : "input_text", text: item.text }];
  return { items: [{ id: item.itemId, type: "message", role: item.role, content }], chars: codePoints(item.text) };
}

/** A call and, when it has a result, its output: kept or dropped together. */
function callUnit(call: FunctionCall, itemId: string): Unit {
  const items: RealtimeItem[] = [{ id: itemId, type: "function_call", call_id: call.callId, name: call.functionName, arguments: call.arguments }];
  if (call.result !== "") items.push({ type: "function_call_output", call_id: call.callId, output: call.result });
  return { items, chars: codePoints(call.functionName) + codePoints(call.arguments) + codePoints(call.result), call };
}

/** The newest units that fit the budget; the first that does not fit ends the replay, so nothing older skips ahead. */
function newestWithin(units: readonly Unit[], budget: RestoreBudget): Unit[] {
  const maxItems = budget.maxItems !== undefined && budget.maxItems > 0 ? budget.maxItems : Infinity;
  const maxChars = budget.maxChars !== undefined && budget.maxChars > 0 ? budget.maxChars : Infinity;
  let items = 0;
  let chars = 0;
  let first = units.length;
  while (first > 0) {
    const unit = units[first - 1]!;
    if (items + unit.items.length > maxItems || chars + unit.chars > maxChars) break;
    items += unit.items.length;
    chars += unit.chars;
    first--;
  }
  return units.slice(first);
}

/** The item with its stored id if the API would take it (1–32 characters, not used by an earlier item), else without one. */
function withUsableId(item: RealtimeItem, used: Set<string>): RealtimeItem {
  if (!("id" in item)) return item;
  const { id, ...rest } = item;
  if (id === undefined || id === "" || codePoints(id) > MAX_ITEM_ID_LENGTH || used.has(id)) return rest as RealtimeItem;
  used.add(id);
  return { id, ...rest } as RealtimeItem;
}

/** Unicode code points, so a budget means the same in TypeScript, Python and Go. */
function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Order of two timestamps; an unset one is the earliest. */
function compareTimes(a: Timestamp | undefined, b: Timestamp | undefined): number {
  const as = a?.seconds ?? 0n;
  const bs = b?.seconds ?? 0n;
  if (as !== bs) return as < bs ? -1 : 1;
  return (a?.nanos ?? 0) - (b?.nanos ?? 0);
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
