/**
 * A fake {@link SupervisorEnv} for unit tests of the supervisor: processes that exit when told,
 * readiness the test resolves, sockets that are numbers. Everything it is asked is recorded, so a
 * test can assert what the supervisor did, not what the fake would do on its own.
 */
import type { SupervisorEnv, Steering, ListenerFigures, ProcessFigures } from "../../src/supervisor/env.ts";
import type { ExitStatus, Generation, GenerationProcess } from "../../src/supervisor/generation.ts";
import type { GenerationSpec } from "../../src/supervisor/generation-process.ts";
import type { Listener } from "../../src/net/listener.ts";
import type { ListenAddress } from "../../src/config/listen-address.ts";
import type { Discovery } from "../../src/supervisor/self-bind.ts";
import type { OrphanReport, OwnedSocket } from "../../src/supervisor/orphans.ts";
import { parseListenAddress } from "../../src/config/listen-address.ts";
import type { RunOptions } from "../../src/config/options.ts";
import { STRAIGHT } from "../../src/config/release-policy.ts";
import { UsageError } from "../../src/errors/reuse-run-error.ts";
import type { GroupMember, HandoffContext, HandoffStrategy } from "../../src/handoff/strategy.ts";

/** A generation's process that the test ends by hand (or that ends on SIGTERM/SIGKILL). */
export class FakeProcess implements GenerationProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  readonly signals: string[] = [];
  /** When false, the stop signal is ignored (a server that never exits on SIGTERM). */
  exitsOnStopSignal = true;
  private finish!: (status: ExitStatus) => void;
  private done = false;

  constructor(pid: number) {
    this.pid = pid;
    this.exited = new Promise((resolve) => (this.finish = resolve));
  }

  /** Ends the process with `code` or `signal`. */
  exit(code: number | null, signal: string | null = null): void {
    if (this.done) return;
    this.done = true;
    this.finish({ code, signal });
  }

  get running(): boolean {
    return !this.done;
  }

  signal(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (signal === "SIGKILL") this.exit(null, "SIGKILL");
    else if (this.exitsOnStopSignal && (signal === "SIGTERM" || signal === "SIGINT")) this.exit(0);
  }
}

/** A promise the test settles. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A {@link Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void, reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Steering that records what it was told. */
export class FakeSteering implements Steering {
  readonly calls: string[] = [];
  private readonly members = new Set<number>();
  join(member: { inode: number }) { this.members.add(member.inode); this.calls.push(`join ${member.inode}`); }
  leave(member: { inode: number }) { this.members.delete(member.inode); this.calls.push(`leave ${member.inode}`); }
  forgetHandle(member: { inode: number }) { this.calls.push(`forget ${member.inode}`); }
  has(member: { inode: number }) { return this.members.has(member.inode); }
  pointAt(members: readonly Listener[]) { this.calls.push(`point ${members.map((m) => m.inode).join(",")}`); }
  detach(members: readonly Listener[]) { this.calls.push(`detach ${members.map((m) => m.inode).join(",")}`); }
  weigh(from: readonly Listener[], to: readonly Listener[], share: number, sticky: string) {
    this.calls.push(`weigh ${from.map((m) => m.inode).join(",")}→${to.map((m) => m.inode).join(",")} ${share} ${sticky}`);
  }
}

/** The fake OS. Fields are public so a test can script and inspect it. */
export class FakeEnv implements SupervisorEnv {
  readonly processes: FakeProcess[] = [];
  readonly specs: GenerationSpec[] = [];
  readonly opened: Listener[] = [];
  readonly closed: Listener[] = [];
  readonly sleeps: number[] = [];
  readonly steering = new FakeSteering();
  /** Programs resolveExecutable refuses. */
  readonly missingPrograms = new Set<string>();
  /** Per generation number: how its readiness ends; default: ready at once. */
  readonly readiness = new Map<number, Deferred<string>>();
  /** Self-bind: the listeners discover() reports per generation number. */
  readonly discovered = new Map<number, Listener[]>();
  foreign: string[] = [];
  timers = 0;
  private nextPid = 1000;
  private nextInode = 500;

  now(): number {
    return Date.now();
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
  }
  every(ms: number, tick: () => void): () => void {
    this.timers++;
    const timer = setInterval(tick, ms);
    return () => { this.timers--; clearInterval(timer); };
  }
  resolveExecutable(program: string): string {
    if (this.missingPrograms.has(program)) throw new UsageError(`command "${program}": not found in PATH`);
    return program;
  }
  spawn(spec: GenerationSpec): GenerationProcess {
    this.specs.push(spec);
    const process = new FakeProcess(this.nextPid++);
    this.processes.push(process);
    return process;
  }
  openListener(address: ListenAddress, backlog: number): Listener {
    const listener: Listener = { address, fd: 100 + this.opened.length, inode: this.nextInode++, backlog };
    this.opened.push(listener);
    return listener;
  }
  closeListener(listener: Listener): void {
    this.closed.push(listener);
  }
  /** Every generation whose readiness was awaited, in order. */
  readonly awaited: Generation[] = [];

  waitReady(generation: Generation, abort?: AbortSignal): Promise<string> {
    this.awaited.push(generation);
    const ready = this.readiness.get(generation.number);
    if (!ready) return Promise.resolve("fake ready");
    abort?.addEventListener("abort", () => ready.reject(new Error(`generation ${generation.number} did not become ready: the upgrade was aborted`)));
    generation.process.exited.then((status) => ready.reject(new Error(`generation ${generation.number} exited (${status.code ?? status.signal}) before it was ready`)));
    return ready.promise;
  }
  discover(generation: Generation): Discovery {
    return { listeners: this.discovered.get(generation.number) ?? [], missing: [], elsewhere: [] };
  }
  foreignSockets(): string[] {
    return this.foreign;
  }
  inProcessTree(generation: Generation, pid: number): boolean {
    return generation.pid === pid;
  }
  isProcessAlive(pid: number): boolean {
    return this.processes.find((p) => p.pid === pid)?.running ?? false;
  }
  listenerFigures(): Map<number, ListenerFigures> {
    return new Map(this.opened.filter((l) => !this.closed.includes(l)).map((l) => [l.inode, { queued: 0, backlog: l.backlog }]));
  }
  async drain() {
    return { queuedAtGate: 0, halfOpenAtGate: 0, complete: true, queuedLeft: 0, halfOpenLeft: 0 };
  }
  /** What settle() answers. */
  settleResult = { settled: 0, left: 0, complete: true };
  async settle() {
    return this.settleResult;
  }
  /** What removeOrphans() answers, and what it was asked. */
  orphanReport: OrphanReport = { removed: [], stuck: [] };
  readonly orphanChecks: OwnedSocket[][] = [];
  async removeOrphans(sockets: readonly OwnedSocket[]): Promise<OrphanReport> {
    this.orphanChecks.push([...sockets]);
    return this.orphanReport;
  }
  /** How waitListenersGone() answers (default: every member gone at once), and what it was asked. */
  listenersGone?: (members: readonly GroupMember[], deadline: number, abort?: AbortSignal) => Promise<boolean>;
  readonly goneWaits: { members: GroupMember[]; deadline: number }[] = [];
  async waitListenersGone(members: readonly GroupMember[], deadline: number, onGone: (member: GroupMember) => void, abort?: AbortSignal): Promise<boolean> {
    this.goneWaits.push({ members: [...members], deadline });
    const gone = this.listenersGone ? await this.listenersGone(members, deadline, abort) : true;
    if (gone) for (const member of members) onGone(member);
    return gone;
  }
  counters(): Record<string, number> {
    return {};
  }
  createSteering(): Steering {
    return this.steering;
  }
  /** Figures per generation number that processFigures() reports; default: none known. */
  readonly figures = new Map<number, ProcessFigures>();
  processFigures(generations: readonly Generation[]): Map<Generation, ProcessFigures> {
    return new Map(generations.flatMap((g) => { const f = this.figures.get(g.number); return f ? [[g, f] as const] : []; }));
  }
  /** What runCheck() answers per generation number (undefined: passed), and what it was asked. */
  readonly checkResults = new Map<number, string>();
  readonly checks: string[] = [];
  async runCheck(argv: readonly string[], generation: Generation): Promise<string | undefined> {
    this.checks.push(`${argv.join(" ")} @${generation.number}`);
    return this.checkResults.get(generation.number);
  }
  after(ms: number, fire: () => void): () => void {
    const timer = setTimeout(fire, ms);
    return () => clearTimeout(timer);
  }
  /** How many times collectGarbage() ran. */
  collections = 0;
  collectGarbage(): void {
    this.collections++;
  }

  /** The process of generation `number` (1-based, in spawn order). */
  process(number: number): FakeProcess {
    const index = this.specs.findIndex((s) => s.number === number);
    if (index < 0) throw new Error(`generation ${number} was never spawned`);
    return this.processes[index]!;
  }
}

/** A strategy that records gate and release. */
export function fakeStrategy(name: HandoffStrategy["name"] = "steer"): HandoffStrategy & { calls: string[] } {
  const calls: string[] = [];
  return {
    name,
    calls,
    async available() { return { ok: true }; },
    async sweep() { calls.push("sweep"); return []; },
    async gate(context: HandoffContext) { calls.push(`gate ${context.oldGeneration}→${context.newGeneration}`); },
    async release(context: HandoffContext) { calls.push(`release ${context.oldGeneration}→${context.newGeneration}`); },
  };
}

/** Options as the command line would give them for `--cmd server --listen 127.0.0.1:8080`. */
export function runOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    command: "run", argv: ["server"], listen: [parseListenAddress("127.0.0.1:8080")], name: "test", backlog: 128,
    stopSignal: "SIGTERM", drainTimeoutMs: 1000, readyTimeoutMs: 1000, handoffTimeoutMs: 200, restart: "on-failure",
    handoff: "steer", ready: { kind: "auto" }, selfBind: false, enableMigrate: false, prefixOutput: false,
    queueUpgrades: true, json: false, policy: { ...STRAIGHT }, ...overrides,
  };
}
