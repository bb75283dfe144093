/**
 * Makes half-open (SYN_RECV) requests pile up on a listener, for test/e2e/half-open.test.ts.
 *
 * A handshake stays half-open on the server until the client's first segment after the SYN-ACK
 * arrives — the final ACK, or the request data that follows it at once (it carries the ACK too, and
 * completes the handshake just as well). So delaying only pure ACKs is not enough: every non-SYN
 * segment from the clients to the port is delayed, with what this kernel has (docs/architecture.md#tc-hold: no
 * netem, but ifb + tbf, u32 and mirred):
 *
 *   - an `ifb` device whose root qdisc is a tbf, normally open (10gbit: one hop, no delay);
 *   - a u32 filter on lo's ingress redirecting TCP segments to the port with SYN clear
 *     (IPv4 without options: flags at byte 33) into the ifb;
 *   - a second filter redirecting UDP datagrams to port 9 into the ifb: the kick.
 *
 * {@link AckDelay.hold} turns the tbf down to 1 kbit/s: the segments queue (the burst is larger
 * than any of them, so tbf queues them rather than drops them). {@link AckDelay.open} turns it
 * back up and kicks: tbf looks at its queue only when a packet arrives, so one UDP datagram to
 * port 9 makes it send everything queued. SYNs are never touched, so during a hold every new connection reaches
 * SYN_RECV on the server and stays there: segments are delayed, never dropped.
 *
 * Only IPv4 on loopback. Everything lives in the test's private network namespace; {@link
 * AckDelay.remove} deletes it all anyway.
 */
import { execFile } from "node:child_process";
import dgram from "node:dgram";
import { sleep } from "./wait.ts";

/** Filter priority of our filters on lo's ingress (the tc strategy uses 0xc000 and above). */
const PREF = 7;
/** Port of the kick datagram (discard: nothing listens, the datagram gets an ICMP error). */
const KICK_PORT = 9;
const TBF_OPEN = ["rate", "10gbit", "burst", "1mb", "limit", "10000000"];
/**
 * Held: 1 kbit/s. Unlike the tc strategy, which queues only SYNs (74 bytes) and can run at 8 bit/s
 * with a 100-byte burst, this queue takes request segments too, and tbf *drops* any packet longer
 * than its burst — the clients would then back off their retransmits for seconds. A burst of 1600
 * bytes fits every segment here; at 1 kbit/s its time budget stays within tbf's 32-bit ticks, and
 * the tokens that come back during a hold (125 bytes/s, ~29 bytes in 230 ms) let nothing through.
 */
const TBF_HELD = ["rate", "1kbit", "burst", "1600", "limit", "10000000"];
/**
 * tbf refills its whole burst on a change, enough for ~20 segments to pass a fresh hold: a kick
 * of nearly the burst's size right after the change spends it (1540 + 42 bytes of headers).
 */
const SPEND_BURST_BYTES = 1540;

/** Runs a tool; resolves with its exit status and stderr, never rejects. */
function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5000 }, (error, _stdout, stderr) => {
      const code = error ? (typeof (error as any).code === "number" ? (error as any).code : 1) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

async function must(argv: string[], tolerate?: RegExp): Promise<void> {
  const result = await run(argv);
  if (result.code !== 0 && !(tolerate && tolerate.test(result.stderr))) {
    throw new Error(`${argv.join(" ")}: ${result.stderr.trim() || `exit ${result.code}`}`);
  }
}

/** Delays client→server segments (all but SYNs) to one port on lo, on demand. */
export class AckDelay {
  readonly port: number;
  readonly ifb: string;
  private kickSocket?: dgram.Socket;
  private installed = false;
  private createdIngress = false;
  /** Holds applied so far. */
  holds = 0;

  constructor(port: number, ifb = `ifb${port}`) {
    this.port = port;
    this.ifb = ifb;
  }

  /** Creates the ifb, its open tbf, lo's ingress qdisc and the two filters. */
  async install(): Promise<void> {
    this.installed = true;
    await must(["ip", "link", "add", this.ifb, "type", "ifb"]);
    await must(["ip", "link", "set", this.ifb, "up"]);
    await must(["tc", "qdisc", "add", "dev", this.ifb, "root", "tbf", ...TBF_OPEN]);
    const ingress = await run(["tc", "qdisc", "add", "dev", "lo", "ingress"]);
    if (ingress.code === 0) this.createdIngress = true;
    else if (!/File exists|Exclusivity flag on/.test(ingress.stderr)) throw new Error(`tc qdisc add dev lo ingress: ${ingress.stderr.trim()}`);
    const filter = ["tc", "filter", "add", "dev", "lo", "parent", "ffff:", "protocol", "ip", "pref", String(PREF), "u32"];
    const redirect = ["action", "mirred", "egress", "redirect", "dev", this.ifb];
    // TCP to the port, IPv4 header without options, flags byte & SYN == 0: every segment but SYNs.
    await must([...filter, "match", "u8", "0x45", "0xff", "at", "0", "match", "ip", "protocol", "6", "0xff",
      "match", "ip", "dport", String(this.port), "0xffff", "match", "u8", "0x00", "0x02", "at", "33", ...redirect]);
    // UDP to port 9: the kick.
    await must([...filter, "match", "ip", "protocol", "17", "0xff", "match", "ip", "dport", String(KICK_PORT), "0xffff", ...redirect]);
    this.kickSocket = dgram.createSocket("udp4");
    this.kickSocket.on("error", () => {});
    this.kickSocket.unref();
  }

  /** From now on, segments to the port queue in the ifb. */
  async hold(): Promise<void> {
    await must(["tc", "qdisc", "change", "dev", this.ifb, "root", "tbf", ...TBF_HELD]);
    await this.kick(SPEND_BURST_BYTES);
    this.holds++;
  }

  /** Lets everything queued through at once, and what follows without delay. */
  async open(): Promise<void> {
    await must(["tc", "qdisc", "change", "dev", this.ifb, "root", "tbf", ...TBF_OPEN]);
    await this.kick();
  }

  /** One UDP datagram to port 9 through the ifb: makes tbf look at its queue (or spends its burst). */
  private kick(bytes = 4): Promise<void> {
    return new Promise((resolve) => {
      if (!this.kickSocket) return resolve();
      this.kickSocket.send(Buffer.alloc(bytes), KICK_PORT, "127.0.0.1", () => resolve());
    });
  }

  /**
   * Until `until` settles: hold for `holdMs`, open for `openMs`, again. Each hold is one "delay of
   * `holdMs` around the swap": whenever the launcher's gate falls into one, the handshakes begun
   * during it are half-open on the old listener at the gate and complete only after the gate.
   * Always ends open.
   */
  async cycle(until: Promise<unknown>, holdMs: number, openMs: number): Promise<void> {
    let done = false;
    const finished = until.then(() => { done = true; }, () => { done = true; });
    try {
      while (!done) {
        await this.hold();
        await Promise.race([sleep(holdMs), finished]);
        await this.open();
        if (!done) await Promise.race([sleep(openMs), finished]);
      }
    } finally {
      await this.open().catch(() => undefined);
    }
  }

  /** Removes the filters, the ifb and (if we created it and nothing else uses it) lo's ingress qdisc. */
  async remove(): Promise<void> {
    if (!this.installed) return;
    this.installed = false;
    // Filters first: a mirred action whose device is gone drops what it matches.
    await run(["tc", "filter", "del", "dev", "lo", "parent", "ffff:", "pref", String(PREF)]);
    await run(["ip", "link", "del", this.ifb]);
    if (this.createdIngress) {
      const left = await new Promise<string>((resolve) =>
        execFile("tc", ["filter", "show", "dev", "lo", "ingress"], (error, stdout) => resolve(error ? "?" : String(stdout))));
      if (left.trim() === "") await run(["tc", "qdisc", "del", "dev", "lo", "ingress"]);
    }
    try { this.kickSocket?.close(); } catch { /* closed */ }
    this.kickSocket = undefined;
  }
}
