import { execFile } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStoreClient } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { startPrometheus, type PrometheusServer } from "../support/prometheus-server.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";
import { toolPath } from "../support/tools.js";
import { ackReason, openUpdateStream } from "../support/update-stream-raw.js";

const run = promisify(execFile);
const RULES = new URL("../../deploy/monitoring/sessionstore-alerts.yml", import.meta.url).pathname;
const DASHBOARD = new URL("../../deploy/monitoring/sessionstore-dashboard.json", import.meta.url).pathname;

/** The metric names a PromQL expression reads (the sidecar's own and grpc-prometheus's; `up` is Prometheus's). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(?:sessionstore|grpc_server)_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

/** Metric families in a scrape, by name, with their TYPE. */
function families(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** A name as a query uses it exists when it is a family, or a histogram's _bucket, _sum or _count. */
function inScrape(name: string, scraped: Map<string, string>): boolean {
  if (scraped.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && scraped.get(base) === "histogram";
}

/** TCP ports the process listens on, from the socket inodes of its file descriptors and /proc/net/tcp{,6}. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const target = (() => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return "";
      }
    })();
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]!);
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const row of readFileSync(table, "utf8").trim().split("\n").slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols[3] === "0A" && inodes.has(cols[9]!)) ports.push(parseInt(cols[1]!.split(":")[1]!, 16));
    }
  }
  return ports.sort();
}

describe("metrics", () => {
  let sidecar: Sidecar;
  let prometheus: PrometheusServer;
  let client: SessionStoreClient;

  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--metrics-listen", "127.0.0.1:0", "--max-resume-attempts", "5"] });
    client = sidecar.client({ retry: false });
    prometheus = await startPrometheus({ jobs: { sessionstore: [new URL(sidecar.metricsUrl!).host] }, ruleFiles: [RULES] });
  }, 60_000);
  afterAll(async () => {
    await prometheus?.stop();
    await sidecar?.stop();
  });

  /** Polls an instant query until it returns `expected` (Prometheus scrapes every second), and returns the last value. */
  async function eventually(expr: string, expected: number): Promise<number | undefined> {
    const deadline = Date.now() + 20_000;
    let value: number | undefined;
    do {
      const result = await prometheus.query(expr);
      value = result.length === 0 ? undefined : result.reduce((sum, r) => sum + r.value, 0);
      if (value === expected) return value;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);
    return value;
  }

  it("shows creates, resumes (one refused), updates and fenced writes to a real Prometheus", async () => {
    for (const id of ["m-1", "m-2", "m-3"]) await client.createSession({ ownerId: "bridge-a", session: { conversationId: id } });
    const resumed = (await client.resumeSession({ conversationId: "m-1", ownerId: "bridge-b" })).session!;
    await client.resumeSession({ conversationId: "m-new", ownerId: "bridge-b", createIfMissing: true });
    await client.endSession({ conversationId: "m-3" });
    await expectRpcError(client.resumeSession({ conversationId: "m-3", ownerId: "bridge-b" }), status.FAILED_PRECONDITION, "SESSION_ENDED");

    // m-1 now belongs to epoch 2: bridge-a's writes with epoch 1 are fenced, on the stream and unary.
    const stream = openUpdateStream(sidecar.address);
    await stream.send({ conversationId: "m-1", ownerEpoch: resumed.ownerEpoch, seq: 1n, appendHistory: [{ itemId: "h1" }] });
    await stream.send({ conversationId: "m-1", ownerEpoch: resumed.ownerEpoch, seq: 2n, appendHistory: [{ itemId: "h2" }] });
    await stream.send({ conversationId: "m-1", ownerEpoch: resumed.ownerEpoch, seq: 2n, appendHistory: [{ itemId: "h2" }] });
    await stream.send({ conversationId: "m-2", ownerEpoch: 1n, seq: 1n, appendHistory: [{ itemId: "h1" }] });
    await stream.send({ conversationId: "m-1", ownerEpoch: 1n, seq: 3n, appendHistory: [{ itemId: "stale" }] });
    const acks = await stream.waitForAcks(5);
    stream.halfClose();
    expect((await stream.ended).code).toBe(status.OK);
    stream.close();
    expect(acks.map((a) => [a.applied, ackReason(a)])).toEqual([[true, undefined], [true, undefined], [false, undefined], [true, undefined], [false, "SESSION_FENCED"]]);
    await expectRpcError(
      client.updateSession({ update: { conversationId: "m-1", ownerEpoch: 1n, seq: 4n, appendHistory: [{ itemId: "stale" }] } }),
      status.FAILED_PRECONDITION,
      "SESSION_FENCED",
    );
    await expectRpcError(client.endSession({ conversationId: "m-1", ownerEpoch: 1n }), status.FAILED_PRECONDITION, "SESSION_FENCED");

    const service = 'grpc_service="sessionstore.v1.SessionStoreService"';
    const expected: [string, number][] = [
      ['up{job="sessionstore"}', 1],
      [`grpc_server_started_total{${service},grpc_method="CreateSession",grpc_type="unary"}`, 3],
      [`grpc_server_handled_total{${service},grpc_method="CreateSession",grpc_code="OK"}`, 3],
      [`grpc_server_handled_total{${service},grpc_method="ResumeSession",grpc_code="OK"}`, 2],
      [`grpc_server_handled_total{${service},grpc_method="ResumeSession",grpc_code="FailedPrecondition"}`, 1],
      [`grpc_server_handled_total{${service},grpc_method="UpdateSession",grpc_code="FailedPrecondition"}`, 1],
      [`grpc_server_handled_total{${service},grpc_method="StreamUpdates",grpc_type="bidi_stream",grpc_code="OK"}`, 1],
      [`grpc_server_handling_seconds_count{${service},grpc_method="ResumeSession"}`, 3],
      [`grpc_server_msg_received_total{${service},grpc_method="StreamUpdates"}`, 5],
      [`grpc_server_msg_sent_total{${service},grpc_method="StreamUpdates"}`, 5],
      ['sessionstore_resumes_total{outcome="resumed",reason=""}', 1],
      ['sessionstore_resumes_total{outcome="created",reason=""}', 1],
      ['sessionstore_resumes_total{outcome="refused",reason="SESSION_ENDED"}', 1],
      ['sessionstore_resume_duration_seconds_count{outcome="refused"}', 1],
      ['sessionstore_updates_total{result="applied"}', 3],
      ['sessionstore_updates_total{result="duplicate"}', 1],
      ['sessionstore_updates_total{result="refused",reason="SESSION_FENCED"}', 1],
      ["sessionstore_update_ack_duration_seconds_count", 5],
      ["sum(sessionstore_commit_group_updates_sum)", 5],
      ['sessionstore_fenced_writes_total{operation="update"}', 2],
      ['sessionstore_fenced_writes_total{operation="end"}', 1],
      ['sessionstore_sessions{tenant="default",status="INITIATED"}', 1],
      ['sessionstore_sessions{tenant="default",status="ACTIVE"}', 2],
      ['sessionstore_sessions{tenant="default",status="ENDED"}', 1],
      ["sessionstore_storage_up", 1],
      ["sessionstore_update_queue_depth", 0],
      ["sessionstore_updates_shed_total", 0],
    ];
    const seen: [string, number | undefined][] = [];
    for (const [expr, value] of expected) seen.push([expr, await eventually(expr, value)]);
    expect(seen).toEqual(expected);
    // The database file exists and has pages; no conversation id is ever a label.
    expect((await prometheus.query("sessionstore_sqlite_database_bytes"))[0]?.value).toBeGreaterThan(0);
    expect(await prometheus.query('{__name__=~"sessionstore_.+|grpc_server_.+", conversation_id!=""}')).toEqual([]);
    const text = await (await fetch(sidecar.metricsUrl!)).text();
    expect(text).not.toMatch(/m-1|m-2|m-3|m-new/);
  }, 90_000);

  it("passes promtool check metrics on its scrape and check rules on the alert rules", async () => {
    const promtool = toolPath("promtool");
    const rules = await run(promtool, ["check", "rules", RULES]);
    expect(rules.stdout).toContain("SUCCESS: 4 rules found");
    const text = await (await fetch(sidecar.metricsUrl!)).text();
    const check = execFile(promtool, ["check", "metrics"]);
    const outcome = new Promise<{ code: number | null; output: string }>((resolve) => {
      let output = "";
      check.stdout!.on("data", (d: Buffer) => (output += d.toString()));
      check.stderr!.on("data", (d: Buffer) => (output += d.toString()));
      check.on("exit", (code) => resolve({ code, output }));
    });
    check.stdin!.end(text);
    expect(await outcome).toEqual({ code: 0, output: "" });
  });

  it("scrapes every metric the dashboard and the alert rules use", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set([
      ...dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr))),
      ...metricNames(readFileSync(RULES, "utf8")),
    ]);
    expect(used.size).toBeGreaterThan(10);
    const scraped = families(await (await fetch(sidecar.metricsUrl!)).text());
    // Redis's gauge is served only with --storage redis; the rest by this SQLite sidecar.
    const missing = [...used].filter((name) => !inScrape(name, scraped) && name !== "sessionstore_redis_connected");
    expect(missing).toEqual([]);
    // Every dashboard query is valid PromQL that Prometheus runs.
    for (const expr of dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))) {
      await prometheus.query(expr.replaceAll("$__rate_interval", "5s").replaceAll("$instance", ".*"));
    }
  });

  it("serves only /metrics on the metrics port", async () => {
    const base = new URL(sidecar.metricsUrl!);
    expect((await fetch(new URL("/", base))).status).toBe(404);
    const ok = await fetch(base);
    expect(ok.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});

describe("metrics off", () => {
  it("opens no HTTP port by default: the gRPC port is the only one listening", async () => {
    const sidecar = await startSidecar();
    try {
      expect(sidecar.metricsUrl).toBeUndefined();
      expect(listeningPorts(sidecar.pid)).toEqual([Number(sidecar.address.split(":").at(-1))]);
    } finally {
      await sidecar.stop();
    }
  });
});

describe("metrics with Redis", () => {
  it("exposes sessionstore_redis_connected with --storage redis", { timeout: 30_000 }, async () => {
    const { startRedisServer } = await import("../support/redis-server.js");
    const redis = await startRedisServer();
    const sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url, "--metrics-listen", "127.0.0.1:0"] });
    try {
      const text = await (await fetch(sidecar.metricsUrl!)).text();
      expect(text).toMatch(/^sessionstore_redis_connected 1$/m);
      expect(text).not.toMatch(/sessionstore_sqlite_/);
    } finally {
      await sidecar.stop();
      await redis.stop();
    }
  });
});
