import { setTimeout as sleep } from "node:timers/promises";
import type { Session, SessionStoreClient } from "../../../src/client/index.js";
import { type MockItem, textOf } from "../../support/mock-realtime-brain.js";
import type { MockRealtimeSession } from "../../support/mock-realtime-server.js";

/** A conversation item as the model understood it, ids aside: what a restored session must hold the same. */
export function meaningOf(item: MockItem): unknown[] {
  switch (item.type) {
    case "message":
      return ["message", item.role, textOf(item)];
    case "function_call":
      return ["function_call", item.call_id, item.name, item.arguments];
    case "function_call_output":
      return ["function_call_output", item.call_id, item.output];
  }
}

export function conversationOf(model: MockRealtimeSession): unknown[][] {
  return model.conversation.map(meaningOf);
}

/** The client events a model session received, by type, in order. */
export function eventTypes(model: MockRealtimeSession): string[] {
  return model.received.map((e) => e.type);
}

/** The caller's audio as the model received it. */
export function audioReceived(model: MockRealtimeSession): Buffer {
  return Buffer.concat(model.received.filter((e) => e.type === "input_audio_buffer.append").map((e) => Buffer.from(String(e.audio), "base64")));
}

/** Waits until the model has answered `count` responses (its response.done events went out). */
export async function untilConversationLength(model: MockRealtimeSession, length: number): Promise<void> {
  while (model.conversation.length < length) await sleep(20);
}

/**
 * The stored session once every item the model holds is recorded with its text (transcripts arrive
 * after the answers): polls, since the bridge's writes are asynchronous to what the caller hears.
 */
export async function storedWhenComplete(client: SessionStoreClient, conversationId: string, items: number, done: (s: Session) => boolean = () => true): Promise<Session> {
  for (;;) {
    const session = (await client.getSession({ conversationId })).session!;
    const history = session.conversationHistory.filter((h) => h.type === "message" || h.type === "function_call");
    if (history.length >= items && history.every((h) => h.type !== "message" || h.text !== "") && done(session)) return session;
    await sleep(20);
  }
}
