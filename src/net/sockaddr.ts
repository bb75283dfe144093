import { C } from "../sys/libc.ts";
import { parseIPv6, type ListenAddress } from "../config/listen-address.ts";

/** Encodes a listen address as `struct sockaddr_in` (16 bytes) or `sockaddr_in6` (28 bytes). */
export function encodeSockaddr(address: Pick<ListenAddress, "host" | "port" | "family">): Uint8Array {
  if (address.family === 4) {
    const buf = new Uint8Array(16);
    const view = new DataView(buf.buffer);
    view.setUint16(0, C.AF_INET, true);
    view.setUint16(2, address.port, false);
    address.host.split(".").forEach((octet, i) => (buf[4 + i] = Number(octet)));
    return buf;
  }
  const buf = new Uint8Array(28);
  const view = new DataView(buf.buffer);
  view.setUint16(0, C.AF_INET6, true);
  view.setUint16(2, address.port, false);
  const groups = parseIPv6(address.host);
  if (!groups) throw new Error(`not an IPv6 address: ${address.host}`);
  groups.forEach((g, i) => view.setUint16(8 + i * 2, g, false));
  return buf;
}

/** Encodes `struct sockaddr_un` for a filesystem path or an abstract name given as "@name". */
export function encodeUnixSockaddr(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  const buf = new Uint8Array(2 + bytes.length + 1);
  new DataView(buf.buffer).setUint16(0, C.AF_UNIX, true);
  buf.set(bytes, 2);
  if (path.startsWith("@")) {
    buf[2] = 0; // abstract namespace: leading NUL, no terminator counted
    return buf.subarray(0, 2 + bytes.length);
  }
  return buf;
}
