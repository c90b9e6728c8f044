/**
 * What the mock Realtime model says next, decided from nothing but the conversation it holds, so a
 * test can tell whether a new model session was given the whole prior conversation: the answer
 * counts the caller's turns, quotes the first thing the caller said, and repeats the last order
 * the tool looked up (which it only knows from a function_call paired with its output).
 */

/** A conversation item as the Realtime API holds it (only the fields the mock reads). */
export interface MockItem {
  id: string;
  type: "message" | "function_call" | "function_call_output";
  role?: "user" | "assistant" | "system";
  status?: string;
  content?: { type: string; text?: string; transcript?: string | null }[];
  call_id?: string;
  name?: string;
  arguments?: string;
  output?: string;
}

export type MockDecision = { kind: "message"; text: string } | { kind: "function_call"; name: string; arguments: string };

/** The tool the mock calls when a caller asks about an order, if the session declared it. */
export const ORDER_TOOL = "lookup_order";

/** A message's text: typed text, or an audio part's transcript. */
export function textOf(item: MockItem): string {
  return (item.content ?? []).map((part) => part.text ?? part.transcript ?? "").join("");
}

/** The next response for `conversation`, given the names of the tools the session declared. */
export function decide(conversation: readonly MockItem[], tools: readonly string[]): MockDecision {
  const last = conversation.at(-1);
  if (last?.type === "function_call_output") return { kind: "message", text: orderSentence(last, conversation) };
  const userTexts = conversation.filter((i) => i.type === "message" && i.role === "user").map(textOf);
  const said = last?.type === "message" && last.role === "user" ? textOf(last) : undefined;
  if (said === undefined) {
    // Asked to speak without a new question: greet a new caller, or pick the conversation up again.
    const lastSaid = userTexts.at(-1);
    return { kind: "message", text: lastSaid === undefined ? "Hello, how can I help?" : `Sorry, we were cut off. You last said "${lastSaid}".` };
  }
  const asked = /\border\s+([A-Za-z0-9-]+)/i.exec(said);
  if (asked && tools.includes(ORDER_TOOL)) return { kind: "function_call", name: ORDER_TOOL, arguments: JSON.stringify({ order_id: asked[1]!.toUpperCase() }) };
  const lastOutput = [...conversation].reverse().find((i) => i.type === "function_call_output");
  const order = lastOutput ? ` ${orderSentence(lastOutput, conversation)}` : "";
  return { kind: "message", text: `Turn ${userTexts.length}. You first said "${userTexts[0] ?? ""}".${order}` };
}

/** "Order X is shipped." from a lookup's output, or what went wrong with it. */
function orderSentence(output: MockItem, conversation: readonly MockItem[]): string {
  const call = conversation.find((i) => i.type === "function_call" && i.call_id === output.call_id);
  if (!call) return "I got an answer to a question I never asked.";
  let result: { found?: boolean; order_id?: string; status?: string; error?: string };
  try {
    result = JSON.parse(output.output ?? "") as typeof result;
  } catch {
    return "The order system answered something I cannot read.";
  }
  const asked = (JSON.parse(call.arguments ?? "{}") as { order_id?: string }).order_id ?? "";
  if (result.error) return `The order lookup failed: ${result.error}.`;
  return result.found ? `Order ${result.order_id ?? asked} is ${result.status}.` : `I could not find order ${asked}.`;
}
