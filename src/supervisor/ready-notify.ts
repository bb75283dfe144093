/**
 * READY=1 from the generations: the launcher's notify socket is read while some generation is
 * starting, and not at all otherwise — an idle launcher keeps no timer for it.
 */
import type { NotifyMessage } from "../systemd/notify-receiver.ts";
import type { SupervisorEnv } from "./env.ts";
import type { Generation } from "./generation.ts";

/** How often the notify socket is read while a generation is starting. */
const POLL_MS = 20;

/** Credits READY=1 to the starting generation whose process tree sent it. */
export class ReadyNotifications {
  private stopPolling?: () => void;

  constructor(
    private readonly receiver: { poll(): NotifyMessage[] } | undefined,
    private readonly env: Pick<SupervisorEnv, "every" | "inProcessTree">,
    private readonly generations: () => readonly Generation[],
  ) {}

  /** A generation started: read the socket until none is starting any more. */
  watch(): void {
    if (!this.receiver || this.stopPolling) return;
    this.stopPolling = this.env.every(POLL_MS, () => this.poll());
  }

  /** Stops reading (the launcher is stopping). */
  close(): void {
    this.stopPolling?.();
    this.stopPolling = undefined;
  }

  private poll(): void {
    let messages: NotifyMessage[] = [];
    try { messages = this.receiver!.poll(); } catch { /* a bad datagram: nothing to credit */ }
    const starting = this.generations().filter((g) => g.state === "starting" && g.alive);
    for (const message of messages) {
      if (message.fields.READY !== "1") continue;
      // Credited now, to a generation still starting whose process tree holds the sender: a pid
      // remembered for later could be recycled into another generation.
      const sender = starting.find((g) => !g.notifiedReady && this.env.inProcessTree(g, message.pid));
      if (sender) sender.notifiedReady = true;
    }
    if (starting.length === 0) this.close();
  }
}
