import { type DescMessage, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { Clock } from "../runtime/clock.js";
import {
  CleanupSessionsResponseSchema,
  CreateSessionResponseSchema,
  DeleteSessionResponseSchema,
  EndSessionResponseSchema,
  GetSessionResponseSchema,
  GetStatsResponseSchema,
  ListSessionsResponseSchema,
  ResumeSessionResponseSchema,
  SessionSchema,
  SessionView,
  UpdateSessionResponseSchema,
  ValidateResumeResponseSchema,
  type CleanupSessionsRequest,
  type CreateSessionRequest,
  type DeleteSessionRequest,
  type EndSessionRequest,
  type GetSessionRequest,
  type ListSessionsRequest,
  type ResumeSessionRequest,
  type UpdateSessionRequest,
  type ValidateResumeRequest,
} from "../gen/sessionstore/v1/session_store_pb.js";
import type { SidecarMetrics } from "../metrics/sidecar-metrics.js";
import { type FieldViolation, SessionError, throwIfInvalid } from "../session/errors.js";
import { type EncodedMessage, withEncodedField } from "../grpc/encoded-message.js";
import { historyWindowOf, windowViolations } from "../session/history-window.js";
import { withoutFields } from "../grpc/length-delimited.js";
import { isKnownStatus } from "../session/lifecycle.js";
import { isFullView } from "../session/reads.js";
import type { SessionRules } from "../session/rules.js";
import {
  conversationIdViolations,
  durationMs,
  durationViolations,
  INT32_MAX,
  INT64_MAX,
  MAX_NOTE_LENGTH,
  rangeViolations,
  ownerIdViolations,
  sessionInputViolations,
  updateViolations,
  viewViolations,
} from "../session/validate.js";
import type { Store } from "../store/store.js";
import { PageTokens } from "./page-token.js";
import type { SessionActivity } from "./session-activity.js";

export interface HandlerDeps {
  store: Store;
  /** Told of every committed write. */
  activity: SessionActivity;
  rules: SessionRules;
  clock: Clock;
  cleanupBatchSize: number;
  /** Told how each ResumeSession ended, when metrics are on. */
  metrics?: Pick<SidecarMetrics, "resume"> | undefined;
}

const DEFAULT_PAGE_SIZE = 100;

/** A Session's children: what a BASIC session leaves out. */
const CHILD_FIELDS: ReadonlySet<number> = new Set([
  SessionSchema.field.conversationHistory.number,
  SessionSchema.field.functionCalls.number,
  SessionSchema.field.audioBuffer.number,
]);
const MAX_PAGE_SIZE = 1000;

type Response<S extends DescMessage> = MessageInitShape<S>;

/**
 * One function per RPC, each check → call → translate: validate the request
 * (every violation at once), call the store for the caller's tenant, shape the
 * response. Errors propagate as SessionError; the server turns them into
 * statuses.
 */
export function sessionStoreHandlers(deps: HandlerDeps) {
  const { store, activity } = deps;
  const pageTokens = new PageTokens(store.pageTokenKey);
  return {
    async createSession(req: CreateSessionRequest, tenant: string): Promise<Response<typeof CreateSessionResponseSchema>> {
      throwIfInvalid([...sessionInputViolations(req.session, "session", true), ...ownerIdViolations(req.ownerId, "owner_id")]);
      const session = await store.create(tenant, req.session!, req.ownerId);
      activity.created(tenant, session);
      return { session };
    },

    async getSession(req: GetSessionRequest, tenant: string): Promise<Response<typeof GetSessionResponseSchema> | EncodedMessage> {
      throwIfInvalid([
        ...conversationIdViolations(req.conversationId, "conversation_id"),
        ...viewViolations(req.view, "view"),
        ...windowViolations(req.historyWindow, req.view, "history_window"),
      ]);
      const window = historyWindowOf(req.historyWindow);
      if (window) {
        if (store.getWindowEncoded) {
          const { session, historyTruncated } = await store.getWindowEncoded(tenant, req.conversationId, window);
          return withEncodedField(GetSessionResponseSchema, { historyTruncated }, GetSessionResponseSchema.field.session.number, session);
        }
        return store.getWindow(tenant, req.conversationId, window);
      }
      if (store.getFullEncoded && isFullView(req.view, SessionView.FULL)) {
        const session = await store.getFullEncoded(tenant, req.conversationId);
        return withEncodedField(GetSessionResponseSchema, {}, GetSessionResponseSchema.field.session.number, session);
      }
      return { session: await store.get(tenant, req.conversationId, req.view) };
    },

    async resumeSession(req: ResumeSessionRequest, tenant: string): Promise<Response<typeof ResumeSessionResponseSchema> | EncodedMessage> {
      throwIfInvalid([
        ...conversationIdViolations(req.conversationId, "conversation_id"),
        ...ownerIdViolations(req.ownerId, "owner_id"),
        ...sessionInputViolations(req.session, "session", false),
        ...viewViolations(req.view, "view"),
        ...windowViolations(req.historyWindow, req.view, "history_window"),
      ]);
      const request = {
        conversationId: req.conversationId,
        ownerId: req.ownerId,
        createIfMissing: req.createIfMissing,
        initial: req.session,
        view: req.view,
        window: historyWindowOf(req.historyWindow),
      };
      // Timed from here, so a malformed request is no resume; told here, where `created` is still a value.
      const startedAt = performance.now();
      const seconds = () => (performance.now() - startedAt) / 1000;
      try {
        // A bridge resumes in the FULL view to put the call back together: a long call's history goes as stored.
        if (store.resumeEncoded && isFullView(req.view, SessionView.FULL)) {
          const { session, created, historyTruncated } = await store.resumeEncoded(tenant, request);
          deps.metrics?.resume(seconds(), { created });
          // The event's session is the header alone, read without decoding the children.
          activity.resumed(tenant, fromBinary(SessionSchema, withoutFields(session, CHILD_FIELDS)), created, seconds() * 1000);
          return withEncodedField(ResumeSessionResponseSchema, { created, historyTruncated }, ResumeSessionResponseSchema.field.session.number, session);
        }
        const response = await store.resume(tenant, request);
        deps.metrics?.resume(seconds(), response);
        activity.resumed(tenant, response.session, response.created, seconds() * 1000);
        return response;
      } catch (err) {
        if (err instanceof SessionError) deps.metrics?.resume(seconds(), err);
        throw err;
      }
    },

    async validateResume(req: ValidateResumeRequest, tenant: string): Promise<Response<typeof ValidateResumeResponseSchema>> {
      throwIfInvalid(conversationIdViolations(req.conversationId, "conversation_id"));
      return store.validateResume(tenant, req.conversationId);
    },

    async updateSession(req: UpdateSessionRequest, tenant: string): Promise<Response<typeof UpdateSessionResponseSchema>> {
      if (!req.update) throwIfInvalid([{ field: "update", description: "is required" }]);
      throwIfInvalid(updateViolations(req.update!, "update."));
      const result = await store.update(tenant, req.update!);
      activity.updatesCommitted([{ tenant, update: req.update! }], [result]);
      return result;
    },

    async endSession(req: EndSessionRequest, tenant: string): Promise<Response<typeof EndSessionResponseSchema>> {
      const violations = conversationIdViolations(req.conversationId, "conversation_id");
      if (req.reason.length > MAX_NOTE_LENGTH) violations.push({ field: "reason", description: `at most ${MAX_NOTE_LENGTH} characters` });
      violations.push(...rangeViolations(req.ownerEpoch, "owner_epoch", INT64_MAX));
      throwIfInvalid(violations);
      const session = await store.end(tenant, req);
      activity.ended(tenant, session);
      return { session };
    },

    async deleteSession(req: DeleteSessionRequest, tenant: string): Promise<Response<typeof DeleteSessionResponseSchema>> {
      throwIfInvalid(conversationIdViolations(req.conversationId, "conversation_id"));
      await store.delete(tenant, req.conversationId, req.etag);
      activity.deleted(tenant, [req.conversationId]);
      return {};
    },

    async listSessions(req: ListSessionsRequest, tenant: string): Promise<Response<typeof ListSessionsResponseSchema>> {
      const violations: FieldViolation[] = [...viewViolations(req.view, "view")];
      // Above the maximum a page is the maximum (AIP-158), so only a negative size is refused.
      if (req.pageSize < 0) violations.push({ field: "page_size", description: `is ${req.pageSize}; must be 0 to ${INT32_MAX} (0 means ${DEFAULT_PAGE_SIZE}, over ${MAX_PAGE_SIZE} means ${MAX_PAGE_SIZE})` });
      req.statuses.forEach((s, i) => {
        if (!isKnownStatus(s)) violations.push({ field: `statuses[${i}]`, description: `unknown status ${s}` });
      });
      throwIfInvalid(violations);
      const filterKey = JSON.stringify([[...req.statuses].sort(), req.bridgeType]);
      const after = pageTokens.decode(req.pageToken, filterKey);
      const pageSize = req.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(req.pageSize, MAX_PAGE_SIZE);
      const page = await store.list(tenant, { pageSize, after, statuses: req.statuses, bridgeType: req.bridgeType, view: req.view });
      const last = page.sessions.at(-1);
      return {
        sessions: page.sessions,
        nextPageToken: page.more && last ? pageTokens.encode(last.conversationId, filterKey) : "",
      };
    },

    async cleanupSessions(req: CleanupSessionsRequest, tenant: string): Promise<Response<typeof CleanupSessionsResponseSchema>> {
      if (req.maxAge) throwIfInvalid(durationViolations(req.maxAge, "max_age"));
      const maxAgeMs = req.maxAge ? durationMs(req.maxAge) : 0;
      const cutoff = new Date(deps.clock.now().getTime() - (maxAgeMs === 0 ? deps.rules.maxSessionAgeMs : maxAgeMs));
      const deleted = await store.cleanup({
        tenant,
        cutoff,
        dryRun: req.dryRun,
        batchSize: deps.cleanupBatchSize,
        onDeleted: (t, ids) => activity.deleted(t, ids),
      });
      return { deletedCount: deleted };
    },

    async getStats(_req: unknown, tenant: string): Promise<Response<typeof GetStatsResponseSchema>> {
      const stats = await store.stats(tenant);
      return {
        activeSessions: BigInt(stats.activeSessions),
        totalSessions: BigInt(stats.totalSessions),
        resumedSessions: BigInt(stats.resumedSessions),
        failedResumes: BigInt(stats.failedResumes),
        cleanupCount: BigInt(stats.cleanupCount),
        statusCounts: [...stats.byStatus].map(([status, count]) => ({ status, count: BigInt(count) })),
      };
    },
  };
}

