import { create } from "@bufbuild/protobuf";
import { type SessionUpdate, SessionUpdateSchema } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import type { GroupCommitter } from "../../src/server/group-commit.js";
import type { Store, TenantUpdate, UpdateResult } from "../../src/store/store.js";

/** A store whose updateMany calls the test settles by hand, recording each group. */
export class ManualGroupStore {
  readonly groups: TenantUpdate[][] = [];
  private pending: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

  updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    this.groups.push([...items]);
    return new Promise((resolve, reject) => {
      this.pending.push({
        resolve: () => resolve(items.map(({ update }) => resultOf(update))),
        reject,
      });
    });
  }

  /** Commits the oldest group in flight. */
  commit(): void {
    this.pending.shift()!.resolve();
  }

  fail(err: unknown): void {
    this.pending.shift()!.reject(err);
  }

  asStore(): Store {
    return this as unknown as Store;
  }
}

/** Updates whose id starts with "refuse" are refused in their slot; the rest are applied. */
function resultOf(update: SessionUpdate): UpdateResult | SessionError {
  if (update.conversationId.startsWith("refuse")) return new SessionError(Reason.SessionEnded, "ended");
  return { session: { conversationId: update.conversationId, etag: `etag-${update.seq}` } as UpdateResult["session"], applied: true };
}

export function upd(conversationId: string, seq = 0n): SessionUpdate {
  return create(SessionUpdateSchema, { conversationId, seq });
}

/** Lets a settled commit's callbacks and the committer's next setImmediate run. */
export async function turn(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Submits to a committer and returns the outcome as a promise: settled with the result, rejected when the store failed. */
export function submitted(committer: GroupCommitter, tenant: string, update: SessionUpdate, bytes: number): Promise<UpdateResult | SessionError> {
  return new Promise((settle, fail) => committer.submit({ tenant, update, bytes, settle, fail }));
}
