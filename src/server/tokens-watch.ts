import type { Logger } from "pino";
import type { TokenGrant } from "../config/auth-tokens.js";
import { type Authenticator, TokenTable } from "./auth.js";

export interface TokensWatchOptions {
  auth: Authenticator;
  /** Reads every token source again; throws with a message that names where a problem is, never a token. */
  load: () => { grants: TokenGrant[]; fingerprint: string };
  /** The fingerprint of what the authenticator holds now. */
  loaded: string;
  intervalMs: number;
  logger: Logger;
}

/**
 * Re-reads the tokens file while serving: a Kubernetes Secret mounted as a
 * volume changes in place (the kubelet swaps a symlink), and a rotated
 * token must take effect without a restart. What was read is compared by
 * fingerprint; a change replaces the whole table at once, so a removed token
 * is refused from the next call on. A file that does not parse leaves the
 * last good tokens in force and is logged once per distinct content, by its
 * problem's position only.
 */
export class TokensWatch {
  private timer: NodeJS.Timeout | undefined;
  private current: string;
  private lastProblem: string | undefined;
  private readonly log: Logger;

  constructor(private readonly options: TokensWatchOptions) {
    this.current = options.loaded;
    this.log = options.logger.child({ module: "auth" });
  }

  start(): void {
    this.timer = setInterval(() => this.poll(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private poll(): void {
    let loaded: { grants: TokenGrant[]; fingerprint: string };
    try {
      loaded = this.options.load();
    } catch (err) {
      const problem = err instanceof Error ? err.message : String(err);
      if (problem !== this.lastProblem) this.log.error({ problem }, "the tokens file cannot be used; the tokens read before stay in force");
      this.lastProblem = problem;
      return;
    }
    this.lastProblem = undefined;
    if (loaded.fingerprint === this.current) return;
    const table = new TokenTable(loaded.grants);
    this.options.auth.replace(table);
    this.current = loaded.fingerprint;
    this.log.info({ tokens: table.size, tenants: table.tenants() }, "tokens reloaded");
  }
}
