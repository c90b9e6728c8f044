/**
 * The one tool the reference bridges give the model: look up an order. A real bridge would call
 * its order system here; the example keeps a small fixed table so a call's answers are the same
 * on every run and on every pod (a resumed call re-running an unanswered lookup gets the same result).
 */

/** The tool as declared in session.update (Realtime API function tool). */
export const ORDER_TOOL = {
  type: "function",
  name: "lookup_order",
  description: "Look up an order by its id and say where it is.",
  parameters: {
    type: "object",
    properties: { order_id: { type: "string", description: "The order id, e.g. A-1001" } },
    required: ["order_id"],
  },
} as const;

const ORDERS: Readonly<Record<string, { status: string; carrier: string }>> = {
  "A-1001": { status: "shipped", carrier: "UPS" },
  "A-1002": { status: "being packed", carrier: "DHL" },
  "B-2001": { status: "delivered", carrier: "USPS" },
};

/**
 * Runs a call the model made; the result is the JSON text of the function_call_output. A call to
 * another name or with unreadable arguments gets an error result rather than an exception, so the
 * model can tell the caller instead of the call stalling.
 */
export function runTool(name: string, argumentsJson: string): string {
  if (name !== ORDER_TOOL.name) return JSON.stringify({ error: `unknown tool ${name}` });
  let orderId: unknown;
  try {
    orderId = (JSON.parse(argumentsJson) as { order_id?: unknown }).order_id;
  } catch {
    return JSON.stringify({ error: "arguments are not JSON" });
  }
  if (typeof orderId !== "string" || orderId === "") return JSON.stringify({ error: "order_id is required" });
  const order = ORDERS[orderId.toUpperCase()];
  return JSON.stringify(order ? { found: true, order_id: orderId.toUpperCase(), ...order } : { found: false, order_id: orderId.toUpperCase() });
}
