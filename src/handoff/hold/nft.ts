/**
 * `nft` handoff: drop new SYNs to the listening ports while the old generation drains. Clients
 * retransmit their SYN after about 1 s on this kernel, so every connection that hits the window
 * waits that long, but none is refused or reset.
 *
 * The launcher owns one table, `inet reuse_run_<tag>` (inet covers IPv4 and IPv6), holding a set of
 * ports with `flags timeout` and one rule dropping SYN-without-ACK to them, hooked at priority -300
 * (before conntrack, so held SYNs leave no state). A hold is the ports added as elements with a
 * timeout of `holdTimeoutMs`: the kernel ends the hold itself even if the launcher dies, which is
 * this strategy's dead-man. Rules match the port on every address of the host.
 */
import { HandoffError, type HandoffContext, type HandoffStrategy } from "../strategy.ts";
import { portsOf, requireRootAndTools, sanitizeTag } from "./common.ts";
import { findTool } from "../../sys/tools.ts";
import { runCommand, describeFailure } from "../../sys/run-command.ts";

/** Upper bound for one nft invocation; a stuck nft must not stall an upgrade. */
const NFT_TIMEOUT_MS = 5000;

/** The table this launcher owns: `reuse_run_<sanitized tag>`. */
export function nftTableName(tag: string): string {
  return `reuse_run_${sanitizeTag(tag)}`;
}

/**
 * The script that (re)creates the table, empty. Adding then deleting first makes it one atomic
 * transaction whether or not a table of a previous run is still there, without duplicating the rule.
 */
export function nftTableScript(tag: string): string {
  const table = nftTableName(tag);
  return [
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    `  set ports { type inet_service; flags timeout; }`,
    `  chain input { type filter hook input priority -300; policy accept; tcp dport @ports tcp flags & (syn|ack) == syn drop; }`,
    `}`,
    "",
  ].join("\n");
}

/**
 * The script that starts a hold: each port becomes an element that expires after `timeoutMs`.
 * `add` keeps an existing element's old timeout, so when an earlier hold may still be there
 * (`refresh`: its release failed) the ports are added, deleted and added again in one transaction.
 * Not always: a delete costs ~15 ms (the kernel waits for an RCU grace period), an add ~3 ms.
 */
export function nftGateScript(tag: string, ports: readonly number[], timeoutMs: number, refresh = false): string {
  const table = nftTableName(tag);
  const ms = Math.max(1, Math.ceil(timeoutMs));
  const plain = ports.join(", ");
  const timed = ports.map((p) => `${p} timeout ${ms}ms`).join(", ");
  const lines = refresh ? [`add element inet ${table} ports { ${plain} }`, `delete element inet ${table} ports { ${plain} }`] : [];
  return [...lines, `add element inet ${table} ports { ${timed} }`, ""].join("\n");
}

/** The script that ends a hold for `ports`. */
export function nftReleaseScript(tag: string, ports: readonly number[]): string {
  return `delete element inet ${nftTableName(tag)} ports { ${ports.join(", ")} }\n`;
}

function nftPath(): string {
  const path = findTool("nft");
  if (!path) throw new HandoffError("nft", "prepare", "nft not found in PATH");
  return path;
}

/** Runs an nft script from stdin; throws a HandoffError naming `step` with nft's message. */
async function nftScript(script: string, step: string): Promise<void> {
  const result = await runCommand([nftPath(), "-f", "-"], { input: script, timeoutMs: NFT_TIMEOUT_MS });
  if (result.code !== 0) throw new HandoffError("nft", step, `nft ${describeFailure(result)}`);
}

/** nft's message for an element or table that is not there (expired, released, swept). */
function isMissing(error: unknown): boolean {
  return error instanceof Error && /No such file or directory/.test(error.message);
}

/**
 * Drops SYNs to the listening ports via an nftables set with per-element timeouts. Each strategy
 * keeps its own record of the tables it made and the holds it has not released.
 */
export function createNftStrategy(): HandoffStrategy {
  /** Tags whose table this process has created (the first gate does it once, lazily). */
  const prepared = new Set<string>();
  /** Ports per tag that a gate added and no release has deleted yet. */
  const unreleased = new Map<string, Set<number>>();

  /** Creates (or re-creates, empty) this launcher's table; the first gate does it once. */
  async function prepare(tag: string): Promise<void> {
    await nftScript(nftTableScript(tag), "prepare table");
    prepared.add(tag);
    unreleased.delete(tag);
  }

  const strategy: HandoffStrategy = {
    name: "nft",

    async available() {
      return requireRootAndTools(["nft"]);
    },

    async sweep(tag) {
      const table = nftTableName(tag);
      prepared.delete(tag);
      unreleased.delete(tag);
      const list = await runCommand([nftPath(), "list", "tables", "inet"], { timeoutMs: NFT_TIMEOUT_MS });
      if (list.code !== 0 || !new RegExp(`^table inet ${table}$`, "m").test(list.stdout)) return [];
      try {
        await nftScript(`delete table inet ${table}\n`, "sweep");
      } catch (error) {
        if (!isMissing(error)) throw error;
        return [];
      }
      return [`nft table inet ${table}`];
    },

    async gate(context: HandoffContext) {
      const ports = portsOf(context.addresses);
      if (ports.length === 0) return;
      if (!prepared.has(context.tag)) await prepare(context.tag);
      const pending = unreleased.get(context.tag) ?? new Set<number>();
      const refresh = ports.some((port) => pending.has(port));
      const step = `hold port ${ports.join(",")}`;
      try {
        await nftScript(nftGateScript(context.tag, ports, context.holdTimeoutMs, refresh), step);
      } catch (error) {
        // The table may have been removed behind our back (a sweep, `nft flush ruleset`): once more from scratch.
        if (!isMissing(error)) throw error;
        await prepare(context.tag);
        await nftScript(nftGateScript(context.tag, ports, context.holdTimeoutMs), step);
      }
      ports.forEach((port) => pending.add(port));
      unreleased.set(context.tag, pending);
      context.log(`nft: holding SYNs to port ${ports.join(", ")} (kernel ends the hold after ${context.holdTimeoutMs} ms)`);
    },

    async release(context: HandoffContext) {
      const ports = portsOf(context.addresses);
      if (ports.length === 0) return;
      const released = () => ports.forEach((port) => unreleased.get(context.tag)?.delete(port));
      try {
        await nftScript(nftReleaseScript(context.tag, ports), `release port ${ports.join(",")}`);
        released();
        return;
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      // One element had already expired, so the transaction deleted nothing: port by port.
      const expired: number[] = [];
      for (const port of ports) {
        try {
          await nftScript(nftReleaseScript(context.tag, [port]), `release port ${port}`);
        } catch (error) {
          if (!isMissing(error)) throw error;
          expired.push(port);
        }
      }
      released();
      if (expired.length) context.log(`nft: hold on port ${expired.join(", ")} had already ended (timeout after ${context.holdTimeoutMs} ms)`);
    },
  };
  return strategy;
}
