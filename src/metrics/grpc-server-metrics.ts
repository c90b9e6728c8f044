import type * as grpc from "@grpc/grpc-js";
import { Counter, Histogram, type Registry } from "prom-client";

/** What grpc-prometheus calls a method's kind. */
type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

/** Go's prometheus.DefBuckets, which grpc-prometheus's handling histogram uses, so existing dashboards' buckets match. */
const HANDLING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One call being measured: told of each message and of its end. */
export interface CallMeter {
  received(): void;
  sent(): void;
  /** The status the call ended with; only the first one counts. */
  ended(code: grpc.status): void;
}

/** Per method: its labels, and message counts not yet added to the counters. */
interface MethodTally {
  labels: { grpc_type: GrpcType; grpc_service: string; grpc_method: string };
  received: number;
  sent: number;
}

/**
 * gRPC server metrics under the names and labels of Go's grpc-prometheus
 * middleware (grpc_server_started_total, grpc_server_handled_total,
 * grpc_server_handling_seconds, grpc_server_msg_received_total,
 * grpc_server_msg_sent_total), so dashboards and alerts written for Go
 * services read this sidecar unchanged.
 *
 * An update stream carries thousands of messages a second, so message counts
 * are plain numbers per method, added to their counters when Prometheus
 * scrapes.
 */
export class GrpcServerMetrics {
  private readonly tallies = new Map<string, MethodTally>();
  private readonly started: Counter<"grpc_type" | "grpc_service" | "grpc_method">;
  private readonly handled: Counter<"grpc_type" | "grpc_service" | "grpc_method" | "grpc_code">;
  private readonly handling: Histogram<"grpc_type" | "grpc_service" | "grpc_method">;

  constructor(registry: Registry) {
    const labelNames = ["grpc_type", "grpc_service", "grpc_method"] as const;
    this.started = new Counter({ name: "grpc_server_started_total", help: "Total number of RPCs started on the server.", labelNames, registers: [registry] });
    this.handled = new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: [...labelNames, "grpc_code"] as const,
      registers: [registry],
    });
    this.handling = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      labelNames,
      buckets: HANDLING_BUCKETS,
      registers: [registry],
    });
    const tallies = this.tallies;
    const counted = (name: string, help: string, key: "received" | "sent") =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          for (const tally of tallies.values()) {
            if (tally[key] === 0) continue;
            this.inc(tally.labels, tally[key]);
            tally[key] = 0;
          }
        },
      });
    counted("grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", "received");
    counted("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", "sent");
  }

  /** Starts measuring a call of `method`. */
  start(method: grpc.ServerMethodDefinition<unknown, unknown>): CallMeter {
    const tally = this.tallyOf(method);
    const startedAt = performance.now();
    this.started.inc(tally.labels);
    let done = false;
    return {
      received: () => void (tally.received += 1),
      sent: () => void (tally.sent += 1),
      ended: (code) => {
        if (done) return;
        done = true;
        this.handled.inc({ ...tally.labels, grpc_code: codeName(code) });
        this.handling.observe(tally.labels, (performance.now() - startedAt) / 1000);
      },
    };
  }

  private tallyOf(method: grpc.ServerMethodDefinition<unknown, unknown>): MethodTally {
    let tally = this.tallies.get(method.path);
    if (tally === undefined) {
      const slash = method.path.lastIndexOf("/");
      tally = {
        labels: { grpc_type: typeOf(method), grpc_service: method.path.slice(1, slash), grpc_method: method.path.slice(slash + 1) },
        received: 0,
        sent: 0,
      };
      this.tallies.set(method.path, tally);
    }
    return tally;
  }
}

function typeOf({ requestStream, responseStream }: grpc.ServerMethodDefinition<unknown, unknown>): GrpcType {
  if (requestStream) return responseStream ? "bidi_stream" : "client_stream";
  return responseStream ? "server_stream" : "unary";
}

/** The code's name as grpc-go spells it (OK, NotFound, FailedPrecondition …), which grpc-prometheus puts in grpc_code. */
const CODE_NAMES = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied",
  "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable",
  "DataLoss", "Unauthenticated",
];

function codeName(code: grpc.status): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}
