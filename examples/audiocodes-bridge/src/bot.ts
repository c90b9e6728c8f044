import type { ConversationItem } from "sessionstore-client";

/**
 * A deterministic stand-in for a speech model: it answers each DTMF digit
 * with a numbered text reply. The number counts the bot's replies over the
 * whole call, restored from the history the sidecar kept, so a caller (or
 * the mock platform) can tell that a resumed call went on rather than
 * starting again.
 */
export class DtmfBot {
  private replies: number;

  /** Continues after the replies already in `history` (empty for a new call). */
  constructor(history: readonly Pick<ConversationItem, "role" | "type">[] = []) {
    this.replies = history.filter((h) => h.role === "assistant" && h.type === "message").length;
  }

  /** The bot's next reply to a digit; call it once per digit. */
  answer(digit: string): { text: string; replyNumber: number } {
    this.replies += 1;
    return { text: `Reply ${this.replies}: you pressed ${digit}`, replyNumber: this.replies };
  }

  get replyCount(): number {
    return this.replies;
  }
}
