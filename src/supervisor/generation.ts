/**
 * One generation: a server process tree started on a set of listeners, and where it is in its
 * life. The state changes only through {@link Generation.transition}, which knows the allowed
 * moves; the supervisor is the only caller, except for the process's own exit, which ends a
 * `starting` or `serving` generation as `exited`.
 *
 * ```
 * starting ──ready──▶ serving ──upgrade/stop──▶ draining
 *    │  │                │ ▲                       ▲
 *    │  └─ready──▶ canary ┘ │ (promoted)            │ (canary failed or rolled back;
 *    │                │     │                       │  window over; parked rolled away)
 *    │                └─────┼───────────────────────┤
 *    │          serving ──keep-old──▶ parked ───────┘
 *    │                      ▲──rollback──┘
 *    ├──rollback──▶ failed
 *    └──exit──▶ exited (from starting, canary, serving or parked; a serving one may be restarted)
 * ```
 */
import type { Listener } from "../net/listener.ts";

/** Where a generation is in its life. */
export type GenerationState = "starting" | "canary" | "serving" | "parked" | "draining" | "exited" | "failed";

/** The moves each state allows. `draining`, `failed` and `exited` are final: an exit keeps them. */
const TRANSITIONS: Readonly<Record<GenerationState, readonly GenerationState[]>> = {
  starting: ["serving", "canary", "failed", "exited"],
  // A canary takes a share of new connections next to the serving generation.
  canary: ["serving", "draining", "exited"],
  serving: ["draining", "parked", "exited"],
  // Parked (--keep-old): in its group with weight 0, finishing what it has; rollback makes it serve again.
  parked: ["serving", "draining", "exited"],
  draining: [],
  failed: [],
  exited: [],
};

/** How a generation's main process ended. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** Describes how an exit status reads to a person: "exit 1", "killed by SIGKILL". */
export function describeExit(status: ExitStatus): string {
  if (status.signal) return `killed by ${status.signal}`;
  // An adopted generation is not our child: its exit is seen, its status is not.
  return status.code === null ? "exit status unknown (not our child)" : `exit ${status.code}`;
}

/** The running process of a generation, as the supervisor sees it (real in generation-process.ts, fake in tests). */
export interface GenerationProcess {
  readonly pid: number;
  /** Resolves once, when the main process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Signals the whole process group (the server and anything it forked). */
  signal(signal: NodeJS.Signals): void;
  /** Output lines that matched `--error-pattern` (absent when its output is not read). */
  errorLines?(): number;
}

/** A generation of the supervised server. */
export class Generation {
  readonly number: number;
  readonly argv: string[];
  /** Its listening sockets: launcher-owned (pass), shared (socket activation) or discovered (self-bind). */
  readonly listeners: Listener[];
  readonly startedAt: number;
  readonly process: GenerationProcess;
  /** When it became ready (ms since the epoch). */
  readyAt?: number;
  /** How readiness was decided ("READY=1", "accepting (epoll/poll/accept)", "delay 1 s", …). */
  readyVia?: string;
  /** READY=1 arrived on the launcher's notify socket from one of its processes. */
  notifiedReady = false;
  exitStatus?: ExitStatus;
  /** When it last became the serving generation (again, after a rollback to it). */
  servingSince?: number;
  /** Crash restarts in its line since the last upgrade (see restart.ts). */
  restarts = 0;
  private current: GenerationState = "starting";

  constructor(number: number, argv: string[], listeners: Listener[], process: GenerationProcess, startedAt: number) {
    this.number = number;
    this.argv = argv;
    this.listeners = listeners;
    this.process = process;
    this.startedAt = startedAt;
    // Registered before anyone else's handler: whoever reacts to the exit sees the final state.
    process.exited.then((status) => {
      this.exitStatus = status;
      if (this.current !== "draining" && this.current !== "failed") this.current = "exited";
    });
  }

  get pid(): number {
    return this.process.pid;
  }

  get state(): GenerationState {
    return this.current;
  }

  /** Output lines that matched `--error-pattern` so far. */
  get errorLines(): number {
    return this.process.errorLines?.() ?? 0;
  }

  /** True until the main process has exited. */
  get alive(): boolean {
    return this.exitStatus === undefined;
  }

  /** Moves to `next`; a move the state machine does not allow is a bug in the caller and throws. */
  transition(next: GenerationState, now: number): void {
    if (!TRANSITIONS[this.current].includes(next)) {
      throw new Error(`generation ${this.number}: no transition ${this.current} → ${next}`);
    }
    this.current = next;
    if (next === "serving" || next === "canary") this.readyAt ??= now;
    if (next === "serving") this.servingSince = now;
  }

  /** Signals its process group. */
  signal(signal: NodeJS.Signals): void {
    this.process.signal(signal);
  }

  /** Waits for exit up to `ms`; resolves the status, or undefined on timeout. */
  async waitExit(ms: number): Promise<ExitStatus | undefined> {
    if (this.exitStatus) return this.exitStatus;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
    const result = await Promise.race([this.process.exited, timeout]);
    clearTimeout(timer);
    return result;
  }

  /**
   * Asks the generation to finish with `stopSignal`, then SIGKILLs its group after `drainTimeoutMs`.
   * Resolves when the main process is gone.
   */
  async stop(stopSignal: NodeJS.Signals, drainTimeoutMs: number): Promise<ExitStatus> {
    if (this.alive) this.signal(stopSignal);
    const status = await this.waitExit(drainTimeoutMs);
    // Kill the group even after the main process exited: forked workers must not outlive it.
    this.signal("SIGKILL");
    return status ?? (await this.process.exited);
  }
}
