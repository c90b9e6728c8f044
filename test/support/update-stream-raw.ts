import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../src/grpc/grpc-service.js";
import { errorDetailsOf, type ErrorDetails } from "../../src/client/error-details.js";
import type { SessionStoreClient } from "../../src/client/session-store-client.js";
import { SessionStoreService, SessionUpdateSchema, type UpdateAck } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";

/**
 * A bare StreamUpdates call, without the bridge client's seq bookkeeping,
 * reconnects or replay: the tests see exactly what the server sends.
 */
export interface RawUpdateStream {
  /** Every ack received so far, in arrival order. */
  readonly acks: UpdateAck[];
  /** Sends one update; resolves at once unless grpc-js asks us to wait for 'drain'. */
  send(update: MessageInitShape<typeof SessionUpdateSchema>): Promise<void>;
  /** Resolves once at least `count` acks have arrived (rejects if the stream ends first). */
  waitForAcks(count: number): Promise<UpdateAck[]>;
  halfClose(): void;
  cancel(): void;
  /** The call's final status; for an error status, with its decoded details. */
  readonly ended: Promise<StreamEnd>;
  close(): void;
}

export interface StreamEnd {
  code: grpc.status;
  details: string;
  errorDetails: ErrorDetails;
}

const GenericClient = grpc.makeGenericClientConstructor(grpcServiceDefinition(SessionStoreService), "SessionStoreService");

export function openUpdateStream(address: string, options: { token?: string } = {}): RawUpdateStream {
  const client = new GenericClient(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (options.token) metadata.set("authorization", `Bearer ${options.token}`);
  const call = (client as unknown as { streamUpdates(m: grpc.Metadata): grpc.ClientDuplexStream<unknown, UpdateAck> }).streamUpdates(metadata);

  const acks: UpdateAck[] = [];
  let waiters: Array<() => void> = [];
  const wake = (): void => {
    const current = waiters;
    waiters = [];
    current.forEach((w) => w());
  };
  let finished = false;
  call.on("data", (ack: UpdateAck) => {
    acks.push(ack);
    wake();
  });
  // grpc-js reports a non-OK status as 'error' as well; the status event carries it either way.
  call.on("error", () => undefined);
  const ended = new Promise<StreamEnd>((resolve) => {
    call.on("status", (status: grpc.StatusObject) => {
      finished = true;
      wake();
      resolve({ code: status.code, details: status.details, errorDetails: errorDetailsOf({ metadata: status.metadata }) });
    });
  });

  return {
    acks,
    ended,
    send(update) {
      if (finished) return Promise.resolve();
      if (call.write(create(SessionUpdateSchema, update))) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          call.off("drain", done);
          call.off("status", done);
          resolve();
        };
        call.on("drain", done);
        call.on("status", done);
      });
    },
    waitForAcks(count) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (acks.length >= count) resolve(acks.slice());
          else if (finished) reject(new Error(`stream ended after ${acks.length} of ${count} acks`));
          else waiters.push(check);
        };
        check();
      });
    },
    halfClose: () => call.end(),
    cancel: () => call.cancel(),
    close: () => client.close(),
  };
}

/** ErrorInfo.reason of an error ack, or undefined for a successful one. */
export function ackReason(ack: UpdateAck): string | undefined {
  for (const detail of ack.error?.details ?? []) {
    const info = anyUnpack(detail, ErrorInfoSchema);
    if (info) return info.reason;
  }
  return undefined;
}

/** The fields BadRequest names in an error ack. */
export function ackBadFields(ack: UpdateAck): string[] {
  for (const detail of ack.error?.details ?? []) {
    const badRequest = anyUnpack(detail, BadRequestSchema);
    if (badRequest) return badRequest.fieldViolations.map((v) => v.field);
  }
  return [];
}

/** Acks grouped by conversation_id, each group in arrival order. */
export function acksBySession(acks: readonly UpdateAck[]): Map<string, UpdateAck[]> {
  const out = new Map<string, UpdateAck[]>();
  for (const ack of acks) {
    const list = out.get(ack.conversationId) ?? [];
    list.push(ack);
    out.set(ack.conversationId, list);
  }
  return out;
}

/** Sends one update on a StreamUpdates call of the client and waits for its ack: the group-commit path. */
export function streamedUpdate(client: SessionStoreClient, update: MessageInitShape<typeof SessionUpdateSchema>): Promise<UpdateAck> {
  const call = client.openUpdateStream();
  return new Promise((resolve, reject) => {
    call.on("data", (ack: UpdateAck) => {
      call.end();
      resolve(ack);
    });
    call.on("error", reject);
    call.write(create(SessionUpdateSchema, update));
  });
}
