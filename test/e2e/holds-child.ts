/**
 * Helper process for test/e2e/holds.test.ts: gates one port with the named hold strategy, prints
 * "held", then waits to be SIGKILLed — a launcher dying mid-hold, leaving only its fail-safe.
 * Usage: holds-child.ts <nft|iptables|tc> <tag> <port> <holdTimeoutMs>
 */
import { createHoldStrategy, type HoldStrategyName } from "../../src/handoff/registry.ts";
import { parseListenAddress } from "../../src/config/listen-address.ts";

const [name, tag, port, holdTimeoutMs] = process.argv.slice(2) as [HoldStrategyName, string, string, string];
const address = parseListenAddress(`:${port}`);
await createHoldStrategy(name).gate({
  tag,
  addresses: [address],
  oldGeneration: 1,
  newGeneration: 2,
  oldMembers: [],
  newMembers: [],
  holdTimeoutMs: Number(holdTimeoutMs),
  log: () => {},
});
process.stdout.write("held\n");
setInterval(() => {}, 60_000);
