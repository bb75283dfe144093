/**
 * `reuse-run status --watch [--interval 1s]`: the status again and again until Ctrl-C. On a
 * terminal each refresh redraws the screen in place; into a pipe or a file each snapshot is a
 * block of its own (a log to read afterwards); with `--json` each is one JSON object per line
 * (for `jq` and friends). Ctrl-C (SIGINT) or the abort signal ends it with exit 0; a launcher that
 * goes away ends it with one line and exit 1.
 */
import { messageOf } from "../errors/reuse-run-error.ts";
import type { StatusSnapshot } from "../supervisor/status.ts";
import { formatDuration } from "../config/duration.ts";
import { formatStatus } from "./format-status.ts";

/** Where the watch writes: a stream's `write` is all it needs. */
export interface WatchOutput {
  write(text: string): unknown;
}

/** How {@link watchStatus} runs. */
export interface WatchOptions {
  json: boolean;
  /** Pause between two snapshots (after one is shown, before the next is asked for). */
  intervalMs: number;
  out: WatchOutput;
  /** Redraw in place (a terminal) rather than print one block after another. */
  isTTY: boolean;
  /** Where the one closing line goes when the launcher goes away; default `process.stderr`. */
  err?: WatchOutput;
  /** Ends the watch (exit 0), as Ctrl-C does. */
  signal?: AbortSignal;
  /** Renders a snapshot for people; default {@link formatStatus} (the client passes its shape-checking one). */
  format?: (status: StatusSnapshot) => string;
}

/** Cursor to the top left; clear to the end of the line; clear to the end of the screen. */
const HOME = "\x1b[H", CLEAR_LINE = "\x1b[K", CLEAR_BELOW = "\x1b[J";

/** A promise that resolves when `signal` aborts (at once if it has), and the way to stop listening. */
function aborted(signal: AbortSignal): { promise: Promise<"aborted">; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    if (signal.aborted) resolve("aborted");
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/**
 * Shows `fetch()` every `intervalMs` until SIGINT or `signal` (→ 0) or until a fetch fails
 * (→ 1, after one line that says so). SIGINT is handled only while the watch runs.
 */
export async function watchStatus(fetch: () => Promise<StatusSnapshot>, options: WatchOptions): Promise<number> {
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on("SIGINT", onSigint);
  const forward = () => stop.abort();
  options.signal?.addEventListener("abort", forward, { once: true });
  if (options.signal?.aborted) stop.abort();
  const end = aborted(stop.signal);
  const format = options.format ?? formatStatus;
  let shown = 0;
  try {
    while (!stop.signal.aborted) {
      let status: StatusSnapshot;
      try {
        const next = await Promise.race([fetch(), end.promise]);
        if (next === "aborted") break;
        status = next;
      } catch (error) {
        (options.err ?? process.stderr).write(shown > 0
          ? `reuse-run: the launcher went away (${messageOf(error)}); watched ${shown} snapshot(s)\n`
          : `reuse-run: ${messageOf(error)}\n`);
        return 1;
      }
      options.out.write(render(status, options, format));
      shown++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, options.intervalMs))), end.promise]);
      clearTimeout(timer);
    }
    return 0;
  } finally {
    process.off("SIGINT", onSigint);
    options.signal?.removeEventListener("abort", forward);
    end.dispose();
    // A redraw leaves the cursor under the last block: the shell's prompt comes on a line of its own.
    if (options.isTTY && !options.json && shown > 0) options.out.write("\n");
  }
}

/** One refresh: a JSON line, a block with a time line, or a whole screen drawn over the last one. */
function render(status: StatusSnapshot, options: WatchOptions, format: (status: StatusSnapshot) => string): string {
  if (options.json) return JSON.stringify(status) + "\n";
  const title = `${new Date().toISOString()} · every ${formatDuration(options.intervalMs)}${options.isTTY ? " · Ctrl-C to stop" : ""}`;
  const text = `${title}\n\n${format(status)}`;
  if (!options.isTTY) return `${text}\n\n`;
  return HOME + text.split("\n").map((line) => line + CLEAR_LINE).join("\n") + "\n" + CLEAR_BELOW;
}
