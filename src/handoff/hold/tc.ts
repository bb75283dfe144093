/**
 * `tc` handoff: *queue* new SYNs during the window instead of dropping them, then let them through
 * at once, so a connection that hits the window waits milliseconds, not a 1 s retransmit.
 *
 * This kernel has no plug, prio, netem, gact, police, flower or matchall, so the queue is built
 * from what it has (docs/architecture.md#tc-hold): u32 filters on `lo`'s ingress redirect every SYN-without-ACK to
 * a held port into an ifb device whose root qdisc is a tbf. Normally the tbf runs at 10gbit and
 * only adds a hop. A hold changes it to 8 bit/s: the tbf queues the SYNs. A release changes it
 * back and *kicks*: tbf does not re-check its queue when its rate changes, only when a packet
 * arrives, so the launcher sends one (a connect to 127.0.0.1:9, also redirected) and the queue
 * drains behind it. A dead-man restores the rate (and kicks, with bash) at `holdTimeoutMs`.
 *
 * Limitation: only `lo`'s ingress is filtered, so only clients on this host (loopback, or any local
 * address, which Linux routes through lo) are held. Clients arriving on a real interface need the
 * same filters on that interface's ingress; not done yet. Filters match the port on every address.
 */
import { HandoffError, type HandoffContext, type HandoffStrategy } from "../strategy.ts";
import { familiesOf, NEEDS_ROOT, tagHash, type IpFamily } from "./common.ts";
import { hasNetAdmin } from "../../sys/privilege.ts";
import { findTool } from "../../sys/tools.ts";
import { armDeadman, deadmanShell, type Deadman } from "./deadman.ts";
import { runCommand, describeFailure, type CommandResult } from "../../sys/run-command.ts";
import { C, close, connectRaw, Errno, socket } from "../../sys/libc.ts";
import { errnoName } from "../../sys/errno.ts";
import { encodeSockaddr } from "../../net/sockaddr.ts";

/** The interface whose ingress is filtered. */
export const TC_DEVICE = "lo";
/** Port of the kick packet: discard, normally closed; its SYN gets a RST after passing the queue. */
export const KICK_PORT = 9;
/** A non-blocking connect under way: the SYN has been sent. */
/** Upper bound for one tc/ip invocation. */
const TC_TIMEOUT_MS = 5000;

/** tbf parameters: open (10gbit, a hop that costs nothing) and held (1 byte/s). */
const TBF_OPEN = ["rate", "10gbit", "burst", "1mb", "limit", "10000000"];
/**
 * Held: 8 bit/s. The burst must stay >= one SYN (74 bytes on lo, 94 with IPv6) or tbf drops SYNs
 * instead of queueing them; 8 bit/s keeps 100 bytes of burst within tbf's 32-bit time budget.
 */
const TBF_HELD = ["rate", "8bit", "burst", "100", "limit", "10000000"];

/** The ifb device for `tag`: `rrifb` + 8 hex digits of the tag's hash (13 of the 15 chars allowed). */
export function ifbName(tag: string): string {
  return `rrifb${tagHash(tag)}`;
}

/**
 * Filter priorities (prefs) for `tag` on lo's ingress: an even number in 49152..57342 for IPv4,
 * the next one for IPv6 (a pref holds filters of one protocol only). All our filters sit at these
 * two prefs, so a sweep deletes them by pref even after the ifb they pointed to is gone.
 */
export function tcPrefs(tag: string): Record<IpFamily, number> {
  const base = 0xc000 + (parseInt(tagHash(tag), 16) % 0x1000) * 2;
  return { 4: base, 6: base + 1 };
}

/** `tc qdisc <verb> dev <ifb> root tbf …` with the open or held parameters. */
export function tbfArgs(verb: "add" | "change" | "replace", ifb: string, held: boolean): string[] {
  return ["qdisc", verb, "dev", ifb, "root", "tbf", ...(held ? TBF_HELD : TBF_OPEN)];
}

/**
 * `tc filter add` arguments redirecting SYN-without-ACK to `port` into `ifb`. IPv4: header without
 * options (IHL 5), so the TCP flags are at byte 33; IPv6: TCP right after the fixed header (no
 * extension headers), flags at byte 53. Flags byte & (SYN|ACK) == SYN.
 */
export function tcFilterArgs(family: IpFamily, pref: number, port: number, ifb: string, device = TC_DEVICE): string[] {
  const match = family === 4
    ? ["match", "u8", "0x45", "0xff", "at", "0", "match", "ip", "protocol", "6", "0xff", "match", "ip", "dport", String(port), "0xffff", "match", "u8", "0x02", "0x12", "at", "33"]
    : ["match", "ip6", "protocol", "6", "0xff", "match", "ip6", "dport", String(port), "0xffff", "match", "u8", "0x02", "0x12", "at", "53"];
  return ["filter", "add", "dev", device, "parent", "ffff:", "protocol", family === 4 ? "ip" : "ipv6", "pref", String(pref),
    "u32", ...match, "action", "mirred", "egress", "redirect", "dev", ifb];
}

/**
 * The kick as an argv for the dead-man, which cannot call libc: bash's /dev/tcp connect. Without
 * bash the dead-man only restores the rate and held SYNs leave with the client's retransmit (~1 s).
 */
export function deadmanKickArgv(shell = deadmanShell()): string[] | undefined {
  return shell.endsWith("bash") ? [shell, "-c", `exec 3<>/dev/tcp/127.0.0.1/${KICK_PORT}`] : undefined;
}

/**
 * Sends one SYN to 127.0.0.1:9 and closes the socket at once: the SYN is already on its way
 * (loopback transmits inside connect), passes our filter into the ifb, and makes tbf look at its
 * queue. Returns an error text, or undefined when the SYN went out.
 */
export function kick(): string | undefined {
  let fd = -1;
  try {
    fd = socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
    const errno = connectRaw(fd, encodeSockaddr({ host: "127.0.0.1", port: KICK_PORT, family: 4 }));
    const sent = errno === 0 || errno === Errno.EINPROGRESS || errno === Errno.ECONNREFUSED;
    return sent ? undefined : `connect 127.0.0.1:${KICK_PORT}: ${errnoName(errno)}`;
  } catch (error) {
    return (error as Error).message;
  } finally {
    if (fd >= 0) close(fd);
  }
}

/** Absolute path of tc or ip (a service's PATH may lack the sbin directories). */
function tool(name: "tc" | "ip"): string {
  const path = findTool(name);
  if (!path) throw new HandoffError("tc", "find tools", `${name} not found in PATH`);
  return path;
}

async function run(name: "tc" | "ip", args: readonly string[]): Promise<CommandResult> {
  return runCommand([tool(name), ...args], { timeoutMs: TC_TIMEOUT_MS });
}

/** Runs tc/ip and throws a HandoffError naming `step` unless it succeeds (or `tolerate` matches its stderr). */
async function must(name: "tc" | "ip", args: readonly string[], step: string, tolerate?: RegExp): Promise<void> {
  const result = await run(name, args);
  if (result.code === 0 || (tolerate && tolerate.test(result.stderr))) return;
  throw new HandoffError("tc", step, `${name} ${args.join(" ")}: ${describeFailure(result)}`);
}

/** What this process has set up for a tag. */
interface Setup {
  readonly ifb: string;
  /** `family/port` of every filter installed. */
  readonly filters: Set<string>;
  deadman?: Deadman;
}

/**
 * Sets up the ifb, its tbf, lo's ingress qdisc and the filters for `targets` (plus the kick port).
 * The first call for a tag starts clean: it replaces filters of an earlier run (same prefs) and
 * reuses its ifb. Later calls only add filters for new ports.
 */
async function prepare(setups: Map<string, Setup>, tag: string, targets: readonly { family: IpFamily; port: number }[]): Promise<void> {
  const prefs = tcPrefs(tag);
  let setup = setups.get(tag);
  if (!setup) {
    const ifb = ifbName(tag);
    for (const pref of [prefs[4], prefs[6]]) await run("tc", ["filter", "del", "dev", TC_DEVICE, "parent", "ffff:", "pref", String(pref)]);
    const added = await run("ip", ["link", "add", ifb, "type", "ifb"]);
    if (added.code !== 0 && !/File exists/.test(added.stderr)) throw new HandoffError("tc", "create ifb", `no ifb support: ${describeFailure(added)}`);
    await must("ip", ["link", "set", ifb, "up"], `bring ${ifb} up`);
    await must("tc", tbfArgs("replace", ifb, false), `tbf on ${ifb}`);
    await must("tc", ["qdisc", "add", "dev", TC_DEVICE, "ingress"], `ingress qdisc on ${TC_DEVICE}`, /File exists|Exclusivity flag on/);
    await must("tc", tcFilterArgs(4, prefs[4], KICK_PORT, ifb), `filter for kick port ${KICK_PORT}`);
    setup = { ifb, filters: new Set([`4/${KICK_PORT}`]) };
    setups.set(tag, setup);
  }
  for (const { family, port } of targets) {
    const key = `${family}/${port}`;
    if (setup.filters.has(key)) continue;
    await must("tc", tcFilterArgs(family, prefs[family], port, setup.ifb), `filter for IPv${family} port ${port}`);
    setup.filters.add(key);
  }
}

/** Family and port of every filter a hold of `addresses` needs. */
function targetsOf(context: HandoffContext): { family: IpFamily; port: number }[] {
  return context.addresses.flatMap((a) => familiesOf(a).map((family) => ({ family, port: a.port })));
}

/** Whether ifb, tbf, ingress, u32 and mirred work here, tried on a scratch ifb (never on lo). */
async function probeSupport(): Promise<string | undefined> {
  const name = `rrprobe${(process.pid % 0xffffff).toString(16)}`;
  const added = await run("ip", ["link", "add", name, "type", "ifb"]);
  if (added.code !== 0 && !/File exists/.test(added.stderr)) return `no ifb support: ${describeFailure(added)}`;
  try {
    const steps: [string, string[]][] = [
      ["tbf", tbfArgs("replace", name, false)],
      ["ingress", ["qdisc", "add", "dev", name, "ingress"]],
      ["u32/mirred", tcFilterArgs(4, 1, KICK_PORT, name, name)],
    ];
    for (const [what, args] of steps) {
      const result = await run("tc", args);
      if (result.code !== 0) return `no ${what} support: ${describeFailure(result)}`;
    }
    return undefined;
  } finally {
    await run("ip", ["link", "del", name]);
  }
}

/**
 * Queues SYNs in an ifb+tbf during the hold and lets them through at release. Each strategy keeps
 * its own set-up per tag and probes support once.
 */
export function createTcStrategy(): HandoffStrategy {
  const setups = new Map<string, Setup>();
  /** Support probed once, on first use. */
  let probe: Promise<string | undefined> | undefined;

  const strategy: HandoffStrategy = {
    name: "tc",

    async available() {
      if (!hasNetAdmin()) return { ok: false, reason: NEEDS_ROOT };
      for (const name of ["tc", "ip"] as const) if (!findTool(name)) return { ok: false, reason: `${name} not found in PATH` };
      probe ??= probeSupport();
      const problem = await probe;
      if (problem) return { ok: false, reason: problem };
      return { ok: true, note: `holds only clients that arrive on ${TC_DEVICE}` };
    },

    async sweep(tag) {
      const setup = setups.get(tag);
      setup?.deadman?.disarm();
      setups.delete(tag);
      const removed: string[] = [];
      const prefs = tcPrefs(tag);
      // Filters before the device: a mirred action whose device is gone drops every SYN it matches.
      for (const pref of [prefs[4], prefs[6]]) {
        const result = await run("tc", ["filter", "del", "dev", TC_DEVICE, "parent", "ffff:", "pref", String(pref)]);
        if (result.code === 0) removed.push(`tc filters pref ${pref} on ${TC_DEVICE} ingress`);
      }
      const ifb = ifbName(tag);
      const deleted = await run("ip", ["link", "del", ifb]);
      if (deleted.code === 0) removed.push(`ifb device ${ifb}`);
      else if (!/Cannot find device|does not exist/.test(deleted.stderr)) throw new HandoffError("tc", "sweep", `ip link del ${ifb}: ${describeFailure(deleted)}`);
      // An ingress qdisc without filters does nothing; remove it unless someone else still uses it.
      const filters = await run("tc", ["filter", "show", "dev", TC_DEVICE, "ingress"]);
      if (filters.code === 0 && filters.stdout.trim() === "") {
        const qdisc = await run("tc", ["qdisc", "del", "dev", TC_DEVICE, "ingress"]);
        if (qdisc.code === 0) removed.push(`ingress qdisc on ${TC_DEVICE}`);
      }
      return removed;
    },

    async gate(context: HandoffContext) {
      const targets = targetsOf(context);
      if (targets.length === 0) return;
      await prepare(setups, context.tag, targets);
      const setup = setups.get(context.tag)!;
      setup.deadman?.disarm();
      const kickArgv = deadmanKickArgv();
      // Armed before the hold: the launcher may die the moment the rate changes.
      const reopen = [tool("tc"), ...tbfArgs("change", setup.ifb, false)];
      setup.deadman = armDeadman(kickArgv ? [reopen, kickArgv] : [reopen], context.holdTimeoutMs);
      try {
        await must("tc", tbfArgs("change", setup.ifb, true), `hold (${setup.ifb})`);
      } catch (error) {
        setup.deadman.disarm();
        setup.deadman = undefined;
        throw error;
      }
      // tbf refills its whole burst on a change, enough for one SYN to slip through to the old
      // listener: a kick right away spends it.
      const problem = kick();
      if (problem) context.log(`tc: kick after hold failed (${problem}); one SYN may reach the old listener`);
      const ports = [...new Set(targets.map((t) => t.port))];
      context.log(`tc: queueing SYNs to port ${ports.join(", ")} on ${TC_DEVICE} (dead-man releases after ${context.holdTimeoutMs} ms)`);
    },

    async release(context: HandoffContext) {
      const ifb = setups.get(context.tag)?.ifb ?? ifbName(context.tag);
      await must("tc", tbfArgs("change", ifb, false), `release (${ifb})`);
      const problem = kick();
      if (problem) context.log(`tc: kick after release failed (${problem}); held SYNs leave with their retransmit (~1 s)`);
      const setup = setups.get(context.tag);
      setup?.deadman?.disarm();
      if (setup) setup.deadman = undefined;
    },
  };
  return strategy;
}
