/**
 * One generation: a server process (and its process group) started on a set of listeners.
 * Pass mode hands the launcher's sockets over as fds 3, 4, … with systemd's socket-activation
 * variables; self-bind mode passes PORT/HOST and lets the server bind with SO_REUSEPORT.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Listener } from "../net/listener.ts";
import type { ListenAddress } from "../config/listen-address.ts";

/** Where a generation is in its life. */
export type GenerationState = "starting" | "serving" | "draining" | "exited" | "failed";

/** How a generation's main process ended. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** Everything needed to start one generation. */
export interface GenerationSpec {
  number: number;
  /** Resolved program and its arguments. */
  argv: string[];
  /** Launcher-owned listeners handed over as fd 3, 4, … (empty in self-bind mode). */
  listeners: Listener[];
  /** All `--listen` addresses (PORT/HOST for self-bind). */
  addresses: ListenAddress[];
  /** Names for LISTEN_FDNAMES, one per listener. */
  fdNames: string[];
  selfBind: boolean;
  /** The launcher's own notify socket for this generation, if any. */
  notifySocket?: string;
  prefixOutput: boolean;
  env?: Record<string, string | undefined>;
}

/** Describes how an exit status reads to a person: "exit 1", "SIGKILL". */
export function describeExit(status: ExitStatus): string {
  return status.signal ? `killed by ${status.signal}` : `exit ${status.code}`;
}

/** A running (or finished) generation. */
export class Generation {
  readonly number: number;
  readonly argv: string[];
  readonly listeners: Listener[];
  readonly startedAt = Date.now();
  readonly pid: number;
  state: GenerationState = "starting";
  readyAt?: number;
  /** How readiness was decided ("READY=1", "epoll", "delay", …). */
  readyVia?: string;
  /** READY=1 arrived on the launcher's notify socket from one of this generation's processes. */
  notifiedReady = false;
  stoppingAt?: number;
  exitStatus?: ExitStatus;
  /** Resolves when the main process has exited. */
  readonly exited: Promise<ExitStatus>;
  private readonly child: ChildProcess;

  private constructor(spec: GenerationSpec, child: ChildProcess, exited: Promise<ExitStatus>) {
    this.number = spec.number;
    this.argv = spec.argv;
    this.listeners = spec.listeners;
    this.child = child;
    this.pid = child.pid!;
    this.exited = exited;
  }

  /** Starts the generation in its own process group. Throws if the process cannot be spawned. */
  static start(spec: GenerationSpec): Generation {
    const env: Record<string, string | undefined> = { ...process.env, ...spec.env };
    // The launcher's own activation variables must never leak into a generation.
    delete env.LISTEN_PID; delete env.LISTEN_FDS; delete env.LISTEN_FDNAMES; delete env.NOTIFY_SOCKET;
    env.REUSE_RUN_GENERATION = String(spec.number);
    env.REUSE_RUN_LISTEN = spec.addresses.map((a) => a.label).join(",");
    if (spec.notifySocket) env.NOTIFY_SOCKET = spec.notifySocket;
    if (spec.selfBind) {
      const first = spec.addresses[0]!;
      env.PORT = String(first.port);
      env.HOST = first.host;
    } else {
      env.LISTEN_FDS = String(spec.listeners.length);
      env.LISTEN_FDNAMES = spec.fdNames.join(":");
    }
    const output = spec.prefixOutput ? "pipe" : "inherit";
    const stdio: (number | "inherit" | "pipe" | "ignore")[] = ["ignore", output, output, ...spec.listeners.map((l) => l.fd)];
    // sh sets LISTEN_PID to its own pid and execs the server in place, so LISTEN_PID is the server's pid.
    const child = spawn("/bin/sh", ["-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"', ...spec.argv], {
      stdio,
      detached: true,
      env: env as NodeJS.ProcessEnv,
    });
    const exited = new Promise<ExitStatus>((resolve) => {
      let done = false;
      child.once("exit", (code, signal) => { if (!done) { done = true; resolve({ code, signal }); } });
      child.once("error", () => { if (!done) { done = true; resolve({ code: 127, signal: null }); } });
    });
    if (!child.pid) throw new Error(`generation ${spec.number}: could not start ${spec.argv[0]}`);
    const generation = new Generation(spec, child, exited);
    exited.then((status) => {
      generation.exitStatus = status;
      // A draining or failed generation keeps that state: the supervisor decides what its exit means.
      if (generation.state === "starting" || generation.state === "serving") generation.state = "exited";
    });
    if (spec.prefixOutput) {
      const prefix = `[gen ${spec.number}] `;
      createInterface({ input: child.stdout! }).on("line", (line) => process.stdout.write(prefix + line + "\n"));
      createInterface({ input: child.stderr! }).on("line", (line) => process.stderr.write(prefix + line + "\n"));
    }
    return generation;
  }

  /** True until the main process has exited. */
  get alive(): boolean {
    return this.exitStatus === undefined;
  }

  /**
   * Signals the whole process group (the server and anything it forked). Uses process.kill, not
   * child.kill: under Deno the latter misreports the exit status.
   */
  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      try { process.kill(this.pid, signal); } catch { /* already gone */ }
    }
  }

  /** Waits for exit up to `ms`; resolves the status, or undefined on timeout. */
  async waitExit(ms: number): Promise<ExitStatus | undefined> {
    if (this.exitStatus) return this.exitStatus;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    return result;
  }

  /**
   * Asks the generation to finish with `stopSignal`, then SIGKILLs its group after `drainTimeoutMs`.
   * Resolves when the main process is gone.
   */
  async stop(stopSignal: NodeJS.Signals, drainTimeoutMs: number): Promise<ExitStatus> {
    this.stoppingAt ??= Date.now();
    if (this.alive) this.signal(stopSignal);
    const status = await this.waitExit(drainTimeoutMs);
    // Kill the group even after the main process exited: forked workers must not outlive it.
    this.signal("SIGKILL");
    return status ?? (await this.exited);
  }
}
