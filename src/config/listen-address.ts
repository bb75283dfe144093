/**
 * `--listen` values: `8080`, `:8080`, `0.0.0.0:8080`, `127.0.0.1:8080`, `[::]:8080`, `[::1]:8080`.
 * A bare port means every interface, dual-stack (`[::]` with IPV6_V6ONLY=0). An explicit `[::]`
 * is IPv6-only, as in nginx, so it can sit next to an explicit `0.0.0.0` on the same port.
 *
 * Numbers are decimal without leading zeros: `08080` or `127.0.0.010` is refused rather than read
 * as 8080 or 10 — inet_aton() would read `010` as octal 8, so each reader could mean another address.
 */
import { UsageError } from "../errors/reuse-run-error.ts";

/** One address to listen on, parsed and validated. */
export interface ListenAddress {
  /** What the user wrote. */
  readonly input: string;
  /** Numeric host: "0.0.0.0", "127.0.0.1", "::", "::1". */
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
  /** IPV6_V6ONLY for family 6: false for the dual-stack "any" of a bare port. */
  readonly v6only: boolean;
  /** Canonical text for messages: "127.0.0.1:8080", "[::1]:8080", "*:8080" for dual-stack any. */
  readonly label: string;
}


const EXPECTED = "expected PORT, :PORT, IPv4:PORT or [IPv6]:PORT, e.g. 8080, :8080, 127.0.0.1:8080, [::1]:8080";

/** Parses one `--listen` value; throws a {@link UsageError} with the expected forms. */
export function parseListenAddress(input: string): ListenAddress {
  const text = input.trim();
  let hostPart: string | undefined;
  let portPart: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") throw new UsageError(`--listen "${input}": ${EXPECTED}`);
    hostPart = text.slice(1, close);
    portPart = text.slice(close + 2);
  } else if (text.includes(":")) {
    const colon = text.lastIndexOf(":");
    hostPart = text.slice(0, colon);
    portPart = text.slice(colon + 1);
    if (hostPart.includes(":")) throw new UsageError(`--listen "${input}": IPv6 addresses need brackets; ${EXPECTED}`);
    if (hostPart === "" || hostPart === "*") hostPart = undefined;
  } else {
    portPart = text;
  }
  const port = parsePort(portPart, input);
  if (hostPart === undefined) {
    return { input, host: "::", port, family: 6, v6only: false, label: `*:${port}` };
  }
  if (hasLeadingZeroOctet(hostPart)) {
    throw new UsageError(`--listen "${input}": "${hostPart}" has a part with a leading zero (read as octal by some tools); expected e.g. 127.0.0.1`);
  }
  if (isIPv4(hostPart)) return { input, host: hostPart, port, family: 4, v6only: false, label: `${hostPart}:${port}` };
  if (hostPart === "localhost") return { input, host: "127.0.0.1", port, family: 4, v6only: false, label: `127.0.0.1:${port}` };
  const v6 = parseIPv6(hostPart);
  if (v6) {
    const host = formatIPv6(v6);
    return { input, host, port, family: 6, v6only: true, label: `[${host}]:${port}` };
  }
  throw new UsageError(`--listen "${input}": "${hostPart}" is not a numeric IP address; ${EXPECTED}`);
}

/**
 * Refuses `--listen` addresses that would share connections: the same address twice (also when
 * spelled differently, `localhost:P` and `127.0.0.1:P`), or a wildcard next to an address it
 * covers on the same port — `:P` covers every address, `0.0.0.0:P` every IPv4 one, `[::]:P`
 * every IPv6 one. Both would be bound, and the kernel gives a connection to the socket bound to
 * its exact address before a wildcard one, so a server that serves only one of its fds leaves the
 * other's clients waiting. nginx in that case binds only the wildcard; a launcher that passes each
 * address as its own fd cannot drop one silently, so it asks for one of them.
 */
export function checkListenSet(addresses: readonly ListenAddress[]): void {
  for (let j = 1; j < addresses.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = addresses[i]!, b = addresses[j]!;
      if (a.port !== b.port) continue;
      if (a.host === b.host && a.family === b.family && a.v6only === b.v6only) throw new UsageError(`--listen ${b.input} is given twice`);
      const [wildcard, other] = covers(a, b) ? [a, b] : covers(b, a) ? [b, a] : [];
      if (wildcard && other) {
        throw new UsageError(`--listen ${other.input} overlaps --listen ${wildcard.input}, which already receives every ${coverage(wildcard)} connection to port ${a.port}; give one of them`);
      }
    }
  }
}

/** True when `wildcard` is an any-address whose connections include those to `other` (same port). */
function covers(wildcard: ListenAddress, other: ListenAddress): boolean {
  if (wildcard.family === 6 && wildcard.host === "::" && !wildcard.v6only) return true;
  if (wildcard.family === 4 && wildcard.host === "0.0.0.0") return other.family === 4;
  return wildcard.family === 6 && wildcard.host === "::" && other.family === 6;
}

function coverage(wildcard: ListenAddress): string {
  if (wildcard.family === 4) return "IPv4";
  return wildcard.v6only ? "IPv6" : "IPv4 and IPv6";
}

function parsePort(text: string, input: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--listen "${input}": port "${text}" is not a number; ${EXPECTED}`);
  if (/^0\d/.test(text)) throw new UsageError(`--listen "${input}": port "${text}" has a leading zero; expected 1-65535 written without one`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new UsageError(`--listen "${input}": port ${port} is out of range; expected 1-65535`);
  return port;
}

/** True for a dotted quad of which some part has a leading zero, like `127.0.0.010`. */
function hasLeadingZeroOctet(text: string): boolean {
  return isIPv4(text) && text.split(".").some((part) => /^0\d/.test(part));
}

/** True for a dotted-quad IPv4 address. */
export function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Parses an IPv6 address into 8 16-bit groups, or undefined. Accepts `::` compression and a dotted IPv4 tail. */
export function parseIPv6(text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let tail: number[] = [];
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = text.slice(lastColon + 1);
    if (!isIPv4(v4)) return undefined;
    const o = v4.split(".").map(Number);
    tail = [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!];
    body = text.slice(0, lastColon + 1) + (text[lastColon - 1] === ":" ? "" : "0");
    if (body.endsWith(":0")) body = body.slice(0, -2);
    else if (body.endsWith(":") && !body.endsWith("::")) body = body.slice(0, -1);
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const valid = (g: string) => /^[0-9a-fA-F]{1,4}$/.test(g);
  if (![...head, ...rest].every(valid)) return undefined;
  const explicit = head.length + rest.length + tail.length;
  if (halves.length === 1 && explicit !== 8) return undefined;
  if (halves.length === 2 && explicit > 7) return undefined;
  const zeros = new Array(8 - explicit).fill(0);
  const result = [...head.map((g) => parseInt(g, 16)), ...(halves.length === 2 ? zeros : []), ...rest.map((g) => parseInt(g, 16)), ...tail];
  return result.length === 8 ? result : undefined;
}

/** Canonical (RFC 5952-ish) text of 8 IPv6 groups: longest zero run compressed. */
export function formatIPv6(groups: number[]): string {
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
