import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Logger } from "../../runtime/logger.js";
import { Reason, SessionError } from "../../session/errors.js";
import { fromThreadError } from "./thread-errors.js";
import type { PackedUpdates, WriterData, WriterLog, WriterMethod, WriterReply, WriterRequest, WriterStart } from "./writer-protocol.js";

/** How long the writer thread may take to answer a ping before the store reports itself unavailable. */
const PING_TIMEOUT_MS = 1000;

/**
 * The event loop's side of the SQLite writer thread (writer-thread.ts):
 * requests go out in order and come back in order, each as a promise.
 */
export class WriterClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(err: unknown): void }>();
  private exited: Error | undefined;

  private constructor(private readonly worker: Worker) {}

  /** Starts the thread and resolves once it has the file open and locked; rejects with the reason it cannot. */
  static start(data: WriterData, log: Logger | undefined): Promise<WriterClient> {
    const worker = startThread(new URL("./writer-thread.js", import.meta.url), data);
    const client = new WriterClient(worker);
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on("message", (message: WriterStart | WriterReply | WriterLog) => {
        if ("log" in message) {
          log?.[message.log.level](message.log.obj, message.log.msg);
        } else if ("ready" in message) {
          started = true;
          if (message.ready) resolve(client);
          else void worker.terminate().finally(() => reject(fromThreadError(message.error)));
        } else {
          client.answer(message);
        }
      });
      worker.on("error", (err) => (started ? client.fail(err) : reject(err)));
      worker.on("exit", (code) => {
        const err = new SessionError(Reason.StorageUnavailable, `the session database's writer thread has stopped (exit code ${code})`);
        if (!started) reject(err);
        client.fail(err);
      });
    });
  }

  call<T>(method: WriterMethod | "ping" | "close", ...args: unknown[]): Promise<T> {
    return this.send<T>({ id: 0, method, args } as WriterRequest, []);
  }

  /** A group of updates, its buffer moved to the thread. */
  updateMany<T>(updates: PackedUpdates, now: Date, epoch: number): Promise<T> {
    return this.send<T>({ id: 0, method: "updateMany", args: [updates, now, epoch] }, [updates.bytes.buffer as ArrayBuffer]);
  }

  private send<T>(request: WriterRequest, transfer: ArrayBuffer[]): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    request.id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(request.id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage(request, transfer);
    });
  }

  /** Resolves when the thread answers within PING_TIMEOUT_MS: it is not stuck waiting on a lock or the disk. */
  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SessionError(Reason.StorageUnavailable, `the session database's writer did not answer within ${PING_TIMEOUT_MS} ms; it is waiting on a lock or the disk`)),
        PING_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.call("ping"), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Checkpoints and closes the connection, then ends the thread. */
  async close(): Promise<void> {
    if (this.exited) return;
    await this.call("close").catch(() => undefined);
    await this.worker.terminate();
  }

  private answer(reply: WriterReply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(fromThreadError(reply.error));
  }

  private fail(err: Error): void {
    this.exited ??= err instanceof SessionError ? err : new SessionError(Reason.StorageUnavailable, "the session database's writer thread failed", { cause: err });
    for (const waiter of this.waiting.values()) waiter.reject(this.exited);
    this.waiting.clear();
  }
}

/**
 * A worker thread on a module of this package. Built, the module is the .js
 * beside this one; run from source (the tests), it is the .ts file, loaded
 * through tsx, which a worker does not inherit from its parent.
 */
function startThread(url: URL, workerData: unknown): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(url, { workerData });
  const source = url.href.replace(/\.js$/, ".ts");
  const tsx = createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs");
  const code = `import(${JSON.stringify(`file://${tsx}`)}).then((api) => { api.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(code, { eval: true, workerData });
}
