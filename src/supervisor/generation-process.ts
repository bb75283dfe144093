/**
 * Starting a generation's process: the OS side of {@link GenerationProcess}. Pass mode hands the
 * launcher's sockets over as fds 3, 4, … with systemd's socket-activation variables; self-bind
 * mode passes PORT/HOST and lets the server bind with SO_REUSEPORT.
 */
import { spawn } from "node:child_process";
import type { ListenAddress } from "../config/listen-address.ts";
import { ReuseRunError, messageOf } from "../errors/reuse-run-error.ts";
import type { Listener } from "../net/listener.ts";
import type { ExitStatus, GenerationProcess } from "./generation.ts";
import { closeOnExecAbove2 } from "../sys/fds.ts";
import { posixSpawn, posixSpawnAvailable, processEnvironment } from "../sys/posix-spawn-deno.ts";
import { signalProcessGroup } from "../sys/process-group.ts";
import { forwardOutput, launcherOutput } from "./output-forwarder.ts";

/** Everything needed to start one generation's process. */
export interface GenerationSpec {
  number: number;
  /** Resolved program and its arguments. */
  argv: string[];
  /** Sockets handed over as fd 3, 4, … (empty in self-bind mode). */
  listeners: Listener[];
  /** All `--listen` addresses (PORT/HOST for self-bind). */
  addresses: ListenAddress[];
  /** The launcher's name: LISTEN_FDNAMES are `NAME-PORT`. */
  name: string;
  selfBind: boolean;
  /** The launcher's own notify socket for its generations, if any. */
  notifySocket?: string;
  prefixOutput: boolean;
  /** `--error-pattern`: the output is read through pipes and matching lines are counted. */
  errorPattern?: string;
}

/**
 * Variables that belong to the launcher's own service manager, never to a generation: socket
 * activation (the generation gets its own LISTEN_*), the notify socket (it gets the launcher's),
 * and the watchdog (systemd watches the launcher's pid, not the generation's).
 */
const LAUNCHER_ONLY = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/** LISTEN_FDNAMES entries: `NAME-PORT` (colon-free, as systemd requires), unique per fd. */
export function fdNames(name: string, addresses: readonly ListenAddress[]): string[] {
  const seen = new Map<string, number>();
  return addresses.map((address) => {
    const base = `${name}-${address.port}`;
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return count === 0 ? base : `${base}-${count}`;
  });
}

/** The environment of a generation's process. */
export function generationEnv(spec: GenerationSpec, base: Record<string, string | undefined>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base };
  for (const name of LAUNCHER_ONLY) delete env[name];
  env.REUSE_RUN_GENERATION = String(spec.number);
  env.REUSE_RUN_LISTEN = spec.addresses.map((a) => a.label).join(",");
  // How a launcher restarted after a crash recognises the generations its predecessor left (adopt.ts).
  env.REUSE_RUN_NAME = spec.name;
  env.REUSE_RUN_LAUNCHER_PID = String(process.pid);
  if (spec.notifySocket) env.NOTIFY_SOCKET = spec.notifySocket;
  if (spec.selfBind) {
    const first = spec.addresses[0]!;
    env.PORT = String(first.port);
    env.HOST = first.host;
  } else {
    env.LISTEN_FDS = String(spec.listeners.length);
    env.LISTEN_FDNAMES = fdNames(spec.name, spec.listeners.map((l) => l.address)).join(":");
  }
  return env;
}

/** The shell line every generation starts through: sh sets LISTEN_PID to its own pid and execs the server in place, so LISTEN_PID is the server's pid. */
const EXEC_WITH_LISTEN_PID = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/** Starts the generation in its own process group. Throws if the process cannot be spawned. */
export function spawnGenerationProcess(spec: GenerationSpec): GenerationProcess {
  closeOnExecAbove2();
  const readOutput = spec.prefixOutput || spec.errorPattern !== undefined;
  // Under Deno, posix_spawn costs the launcher a fraction of node:child_process's fork
  // (posix-spawn-deno.ts); output that the launcher reads still needs node's pipes.
  if (!readOutput && isDeno() && posixSpawnAvailable()) return spawnWithPosixSpawn(spec);
  const output = readOutput ? "pipe" : "inherit";
  const stdio: (number | "inherit" | "pipe" | "ignore")[] = ["ignore", output, output, ...spec.listeners.map((l) => l.fd)];
  const child = spawn("/bin/sh", ["-c", EXEC_WITH_LISTEN_PID, ...spec.argv], {
    stdio,
    detached: true,
    env: generationEnv(spec, process.env) as NodeJS.ProcessEnv,
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    let done = false;
    child.once("exit", (code, signal) => { if (!done) { done = true; resolve({ code, signal }); } });
    child.once("error", () => { if (!done) { done = true; resolve({ code: 127, signal: null }); } });
  });
  const pid = child.pid;
  if (!pid) throw new ReuseRunError(`could not start ${spec.argv[0]}`, { generation: spec.number, step: "spawn" });
  let matched = 0;
  if (readOutput) {
    // With backpressure: a slow reader of the launcher's output slows the server, never grows the launcher.
    const prefix = spec.prefixOutput ? `[gen ${spec.number}] ` : "";
    const pattern = spec.errorPattern !== undefined ? new RegExp(spec.errorPattern) : undefined;
    const decoder = new TextDecoder();
    const count = pattern ? (line: Uint8Array) => { if (pattern.test(decoder.decode(line))) matched++; } : undefined;
    void forwardOutput(child.stdout!, launcherOutput("stdout"), prefix, undefined, count);
    void forwardOutput(child.stderr!, launcherOutput("stderr"), prefix, undefined, count);
  }
  return {
    pid,
    exited,
    signal: (signal) => signalProcessGroup(pid, signal),
    errorLines: () => matched,
  };
}

function isDeno(): boolean {
  return typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" && typeof (globalThis as { Bun?: unknown }).Bun === "undefined";
}

/** The generation through posix_spawn: its output is the launcher's own, so no line is counted. */
function spawnWithPosixSpawn(spec: GenerationSpec): GenerationProcess {
  let started;
  try {
    started = posixSpawn({ path: "/bin/sh", argv: ["/bin/sh", "-c", EXEC_WITH_LISTEN_PID, ...spec.argv], env: generationEnv(spec, processEnvironment()), passFds: spec.listeners.map((l) => l.fd) });
  } catch (error) {
    throw new ReuseRunError(`could not start ${spec.argv[0]}: ${messageOf(error)}`, { generation: spec.number, step: "spawn", cause: error });
  }
  const { pid, exited } = started;
  return { pid, exited, signal: (signal) => signalProcessGroup(pid, signal), errorLines: () => 0 };
}
