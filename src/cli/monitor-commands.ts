import { toJsonString } from "@bufbuild/protobuf";
import { Command } from "commander";
import { GetStatsResponseSchema, SessionEventType, type WatchSessionsResponse, WatchSessionsResponseSchema } from "../client/index.js";
import { positiveInteger, statusText, timeText } from "./sessions-command.js";
import { DEFAULT_ADDRESS, SIDECAR_HELP_AFTER, type SidecarFlags, withClient, withSidecarOptions } from "./sidecar-options.js";
import { formatFields } from "./text-table.js";

/** `sessionstore stats`: GetStats of the token's tenant. */
export function statsCommand(): Command {
  return withSidecarOptions(new Command("stats").description("print the session counts of a running sidecar: live, total, resumed, failed resumes, cleaned up, per status"))
    .addHelpText("after", SIDECAR_HELP_AFTER)
    .action(async (flags: SidecarFlags) => {
      await withClient(flags, async (client) => {
        const stats = await client.getStats({});
        if (flags.json) {
          process.stdout.write(`${toJsonString(GetStatsResponseSchema, stats)}\n`);
          return;
        }
        const fields: [string, string][] = [
          ["active_sessions", String(stats.activeSessions)],
          ["total_sessions", String(stats.totalSessions)],
          ["resumed_sessions", String(stats.resumedSessions)],
          ["failed_resumes", String(stats.failedResumes)],
          ["cleanup_count", String(stats.cleanupCount)],
          ...stats.statusCounts.map(({ status, count }): [string, string] => [statusText(status), String(count)]),
        ];
        process.stdout.write(formatFields(fields));
      });
    });
}

/**
 * `sessionstore watch [<id>]`: WatchSessions until Ctrl-C (or --limit events).
 * Once the sidecar has taken the watch, a line on stderr says so: events
 * from then on are printed, and a script may start what it wants to see.
 */
export function watchCommand(): Command {
  return withSidecarOptions(
    new Command("watch")
      .description("print session events as they happen (created, resumed, updated, ended, deleted, expired, fenced); --json: one WatchSessionsResponse per line")
      .argument("[conversation-id]", "only this session's events")
      .option("--limit <n>", "exit after n events"),
  )
    .addHelpText("after", `${SIDECAR_HELP_AFTER}\nA watch that the sidecar ends (it shuts down, or this terminal reads too slowly) exits 1 with\nthe reason; events missed meanwhile are not replayed: list the sessions again.`)
    .action(async (conversationId: string | undefined, flags: SidecarFlags & { limit?: string }) => {
      const limit = flags.limit === undefined ? Number.POSITIVE_INFINITY : positiveInteger(flags.limit, "--limit");
      await withClient(flags, async (client) => {
        const call = client.watchSessions({ conversationId: conversationId ?? "" });
        let stopped = false;
        const stop = () => {
          stopped = true;
          call.cancel();
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        call.once("metadata", () => {
          const what = conversationId === undefined ? "every session" : `session ${conversationId}`;
          process.stderr.write(`watching ${what} at ${flags.address ?? process.env.SESSIONSTORE_ADDRESS ?? DEFAULT_ADDRESS}; Ctrl-C stops\n`);
        });
        let seen = 0;
        try {
          for await (const event of call as AsyncIterable<WatchSessionsResponse>) {
            process.stdout.write(flags.json ? `${toJsonString(WatchSessionsResponseSchema, event)}\n` : eventLine(event));
            seen += 1;
            if (seen >= limit) {
              stop();
              break;
            }
          }
        } catch (err) {
          // Our own cancel ends the stream with CANCELLED: that is the normal end.
          if (!stopped) throw err;
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      });
    });
}

function eventLine(event: WatchSessionsResponse): string {
  const s = event.session;
  const type = (SessionEventType[event.type] ?? String(event.type)).toLowerCase();
  const parts = [timeText(event.time), type.padEnd(7), s?.conversationId ?? ""];
  if (s !== undefined && s.status !== 0) parts.push(`status=${statusText(s.status)}`, `epoch=${s.ownerEpoch}`, `etag=${s.etag}`);
  else if (s !== undefined && s.ownerEpoch !== 0n) parts.push(`epoch=${s.ownerEpoch}`);
  return `${parts.join("  ")}\n`;
}
