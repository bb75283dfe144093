/**
 * The one error family of reuse-run. Every error the launcher or a client reports is a
 * {@link ReuseRunError} (or wraps one as `cause`): it says what went wrong in one line and, where
 * it applies, which generation, which address and which step. `main` prints `message` and exits
 * with `exitCode`; `REUSE_RUN_DEBUG=1` adds the stack and the `cause` chain.
 *
 * @example
 * throw new ReuseRunError("bind failed", { generation: 2, address: "*:8080", step: "spawn", cause: error });
 * // message: "generation 2, *:8080, spawn: bind failed"
 */

/** Where an error happened: any of these that apply prefix the message. */
export interface ErrorContext {
  /** The generation the error concerns. */
  generation?: number;
  /** The listen address (label) the error concerns. */
  address?: string;
  /** The pipeline or start-up step: "spawn", "ready", "gate", "drain", "retire", "release", "start-up", … */
  step?: string;
  /** The error this one explains. */
  cause?: unknown;
  /** False when the message already names the generation and step (a report's own text). */
  prefix?: boolean;
}

/** A failure of reuse-run; exit status 1 unless a subclass says otherwise. */
export class ReuseRunError extends Error {
  readonly generation?: number;
  readonly address?: string;
  readonly step?: string;
  /** The process exit status this error leads to when it ends a command. */
  get exitCode(): number {
    return 1;
  }

  constructor(message: string, context: ErrorContext = {}) {
    super((context.prefix === false ? "" : prefix(context)) + message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.generation = context.generation;
    this.address = context.address;
    this.step = context.step;
  }
}

/**
 * Bad input: a flag, a value, a file or an environment that cannot be used. Checked before anything
 * is bound or started; one line, exit status 2, and nothing running is touched.
 */
export class UsageError extends ReuseRunError {
  override get exitCode(): number {
    return 2;
  }
}

function prefix(context: ErrorContext): string {
  const parts = [
    context.generation !== undefined ? `generation ${context.generation}` : undefined,
    context.address,
    context.step,
  ].filter((p): p is string => p !== undefined && p !== "");
  return parts.length ? `${parts.join(", ")}: ` : "";
}

/** The message of anything thrown (an Error's message, else its text). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The exit status for anything thrown: a {@link ReuseRunError}'s own, else 1. */
export function exitCodeOf(error: unknown): number {
  return error instanceof ReuseRunError ? error.exitCode : 1;
}

/** `error`'s stack followed by each `cause` in turn, for `REUSE_RUN_DEBUG`. */
export function describeChain(error: unknown): string {
  const lines: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 10; depth++) {
    lines.push(depth === 0 ? String((e as Error).stack ?? e) : `caused by: ${String((e as Error).stack ?? e)}`);
    e = e instanceof Error ? e.cause : undefined;
  }
  return lines.join("\n");
}
