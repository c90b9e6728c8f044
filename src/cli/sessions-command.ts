import { toJson, toJsonString } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Command } from "commander";
import { type Session, SessionSchema, SessionStatus, SessionView } from "../client/index.js";
import { EXIT_USAGE, fail } from "./exit.js";
import { SIDECAR_HELP_AFTER, type SidecarFlags, withClient, withSidecarOptions } from "./sidecar-options.js";
import { formatFields, formatTable, oneLine } from "./text-table.js";

/** Sessions asked for per ListSessions page: few round trips, small messages (BASIC view). */
const PAGE_SIZE = 200;

const STATUS_NAMES = ["initiated", "active", "paused", "ended", "error"] as const;

/** `sessionstore sessions list | show | end | delete`: one session or many, through the sidecar's API. */
export function sessionsCommand(): Command {
  const sessions = new Command("sessions").description("list, show, end or delete sessions of a running sidecar (over gRPC)");

  withSidecarOptions(
    sessions
      .command("list")
      .description("list sessions, in conversation_id order (text: one row each; --json: one Session per line)")
      .option("--status <names>", `comma-separated statuses to list: ${STATUS_NAMES.join(", ")}, or all (default: all but ended)`)
      .option("--bridge-type <type>", "only sessions of this bridge_type")
      .option("--limit <n>", "list at most n sessions"),
  )
    .addHelpText("after", SIDECAR_HELP_AFTER)
    .action(async (flags: SidecarFlags & { status?: string; bridgeType?: string; limit?: string }) => {
      const statuses = statusesOf(flags.status);
      const limit = flags.limit === undefined ? Number.POSITIVE_INFINITY : positiveInteger(flags.limit, "--limit");
      await withClient(flags, async (client) => {
        const rows: string[][] = [];
        let pageToken = "";
        let listed = 0;
        do {
          const pageSize = Math.min(PAGE_SIZE, limit - listed);
          const page = await client.listSessions({ pageSize, pageToken, statuses, bridgeType: flags.bridgeType ?? "", view: SessionView.BASIC });
          for (const session of page.sessions.slice(0, limit - listed)) {
            if (flags.json) process.stdout.write(`${toJsonString(SessionSchema, session)}\n`);
            else rows.push(listRow(session));
            listed += 1;
          }
          pageToken = page.nextPageToken;
        } while (pageToken !== "" && listed < limit);
        if (!flags.json) {
          process.stdout.write(rows.length === 0 ? "no sessions\n" : formatTable(["conversation_id", "status", "bridge", "owner", "epoch", "resumed", "last_activity"], rows));
        }
      });
    });

  withSidecarOptions(
    sessions
      .command("show")
      .description("show one session: every field, its history, function calls and audio (--json: the Session, audio bytes in base64)")
      .argument("<conversation-id>", "the session's conversation_id")
      .option("--basic", "the BASIC view: the fields without history, function calls and audio"),
  )
    .addHelpText("after", SIDECAR_HELP_AFTER)
    .action(async (conversationId: string, flags: SidecarFlags & { basic?: boolean }) => {
      await withClient(flags, async (client) => {
        const { session } = await client.getSession({ conversationId, view: flags.basic ? SessionView.BASIC : SessionView.FULL });
        if (session === undefined) throw new Error(`the sidecar answered GetSession for ${conversationId} without a session`);
        process.stdout.write(flags.json ? `${toJsonString(SessionSchema, session)}\n` : showText(session));
      });
    });

  withSidecarOptions(
    sessions
      .command("end")
      .description("end a session (status ENDED, kept as a tombstone until cleanup): a late resume is refused with SESSION_ENDED")
      .argument("<conversation-id>", "the session's conversation_id")
      .option("--reason <text>", 'the end_reason recorded (default: "normal")'),
  )
    .addHelpText("after", `${SIDECAR_HELP_AFTER}\nEnding an ended session leaves it as it is; the token needs the admin role when auth is on.`)
    .action(async (conversationId: string, flags: SidecarFlags & { reason?: string }) => {
      await withClient(flags, async (client) => {
        // owner_epoch 0: the operator's write is unfenced, whoever owns the call now.
        const { session } = await client.endSession({ conversationId, reason: flags.reason ?? "", ownerEpoch: 0n });
        if (session === undefined) throw new Error(`the sidecar answered EndSession for ${conversationId} without a session`);
        process.stdout.write(flags.json ? `${toJsonString(SessionSchema, session)}\n` : `ended ${conversationId} (end_reason ${JSON.stringify(session.endReason)})\n`);
      });
    });

  withSidecarOptions(
    sessions
      .command("delete")
      .description("delete a session with its history, function calls and audio; it cannot be resumed or read again")
      .argument("<conversation-id>", "the session's conversation_id")
      .option("--etag <etag>", "delete only if the session is still at this etag (as show printed it)"),
  )
    .addHelpText("after", `${SIDECAR_HELP_AFTER}\nThe token needs the admin role when auth is on.`)
    .action(async (conversationId: string, flags: SidecarFlags & { etag?: string }) => {
      await withClient(flags, async (client) => {
        await client.deleteSession({ conversationId, etag: flags.etag ?? "" });
        process.stdout.write(flags.json ? `${JSON.stringify({ deleted: conversationId })}\n` : `deleted ${conversationId}\n`);
      });
    });

  return sessions;
}

function listRow(s: Session): string[] {
  return [s.conversationId, statusText(s.status), s.bridgeType, s.ownerId, String(s.ownerEpoch), String(s.resumedCount), timeText(s.lastActivity)];
}

/** Every set field of the header as proto names, then the children summed up one line each. */
function showText(session: Session): string {
  const header = toJson(SessionSchema, { ...session, conversationHistory: [], functionCalls: [], audioBuffer: [] }, { useProtoFieldName: true }) as Record<string, unknown>;
  const fields = Object.entries(header).map(([key, value]): [string, string] => [key, typeof value === "string" ? value : JSON.stringify(value)]);
  let text = formatFields(fields);
  const history = session.conversationHistory;
  text += `conversation_history: ${history.length} items\n`;
  for (const item of history) text += `  ${[item.itemId, item.role, item.type].filter((p) => p !== "").join(" ")}: ${oneLine(item.text, 120)}\n`;
  text += `function_calls: ${session.functionCalls.length}\n`;
  for (const call of session.functionCalls) text += `  ${call.callId} ${call.functionName} ${call.status} ${oneLine(call.arguments, 80)}\n`;
  const audio = session.audioBuffer;
  const bytes = audio.reduce((sum, chunk) => sum + chunk.data.length, 0);
  text += audio.length === 0 ? "audio_buffer: empty\n" : `audio_buffer: ${audio.length} chunks, ${bytes} bytes, seq ${audio[0]?.seq}-${audio[audio.length - 1]?.seq}\n`;
  return text;
}

export function statusText(status: SessionStatus): string {
  return (SessionStatus[status] ?? String(status)).toLowerCase();
}

export function timeText(time: Session["lastActivity"]): string {
  return time === undefined ? "" : timestampDate(time).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function statusesOf(text: string | undefined): SessionStatus[] {
  if (text === undefined) return [];
  const names = text.split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
  if (names.includes("all")) return [SessionStatus.INITIATED, SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ENDED, SessionStatus.ERROR];
  return names.map((name) => {
    const index = (STATUS_NAMES as readonly string[]).indexOf(name);
    if (index < 0) fail(EXIT_USAGE, `--status: unknown status "${name}" (use ${STATUS_NAMES.join(", ")} or all)`);
    return (index + 1) as SessionStatus;
  });
}

export function positiveInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) fail(EXIT_USAGE, `${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}
