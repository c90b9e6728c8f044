import { WebSocket } from "ws";

/** A server event of the Realtime API; only `type` is common to all of them. */
export interface RealtimeServerEvent {
  type: string;
  [key: string]: unknown;
}

export interface RealtimeSocketOptions {
  /** An OpenAI-Realtime-compatible WebSocket endpoint, e.g. wss://api.openai.com/v1/realtime?model=gpt-realtime. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omitted when empty (a local or proxied endpoint). */
  apiKey?: string;
  /** How long to wait for the socket and its session.created; default 10 s. */
  connectTimeoutMs?: number;
}

/**
 * One WebSocket to the model: one model session. It opens, waits for session.created (so the
 * caller knows the model session's id before it sends anything), then hands every server event
 * to `onEvent` in arrival order. Sending after the socket closed is a no-op: a call whose model
 * side is gone is torn down by `onClose`, not by an exception in the middle of relaying audio.
 */
export class RealtimeSocket {
  private constructor(
    private readonly ws: WebSocket,
    /** The session.created event. */
    readonly created: RealtimeServerEvent,
  ) {}

  /** Connects; rejects when the endpoint refuses (e.g. 401 for a wrong key), closes, or is silent past the timeout. */
  static open(options: RealtimeSocketOptions, onEvent: (event: RealtimeServerEvent) => void, onClose: (code: number) => void): Promise<RealtimeSocket> {
    const headers: Record<string, string> = options.apiKey ? { Authorization: `Bearer ${options.apiKey}` } : {};
    const ws = new WebSocket(options.url, { headers });
    return new Promise((resolve, reject) => {
      let socket: RealtimeSocket | undefined;
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`model endpoint ${redact(options.url)}: no session.created within ${options.connectTimeoutMs ?? 10_000} ms`));
      }, options.connectTimeoutMs ?? 10_000);
      ws.on("message", (data) => {
        let event: RealtimeServerEvent;
        try {
          event = JSON.parse(data.toString()) as RealtimeServerEvent;
        } catch {
          return; // not an event; the API sends none such
        }
        if (socket) return onEvent(event);
        clearTimeout(timer);
        if (event.type !== "session.created") {
          ws.terminate();
          return reject(new Error(`model endpoint ${redact(options.url)} began with ${event.type}: ${JSON.stringify(event.error ?? {})}`));
        }
        socket = new RealtimeSocket(ws, event);
        resolve(socket);
      });
      ws.on("unexpected-response", (_req, res) => {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`model endpoint ${redact(options.url)} refused the connection: HTTP ${res.statusCode}`));
      });
      ws.on("error", (err) => {
        clearTimeout(timer);
        if (!socket) reject(err);
      });
      ws.on("close", (code) => {
        clearTimeout(timer);
        if (socket) onClose(code);
        else reject(new Error(`model endpoint ${redact(options.url)} closed before session.created (${code})`));
      });
    });
  }

  /** The model session's id (session.created's session.id). */
  get sessionId(): string {
    return String((this.created.session as { id?: unknown } | undefined)?.id ?? "");
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(event: { type: string; [key: string]: unknown }): void {
    if (this.isOpen) this.ws.send(JSON.stringify(event));
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }
}

/** The URL without credentials or query, for messages and logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}
