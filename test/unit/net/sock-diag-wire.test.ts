/** The dump requests' bytes: what the kernel is asked for (include/uapi/linux/inet_diag.h). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildByFamilyRequest, buildCompatRequest, TcpState } from "../../../src/net/sock-diag-wire.ts";

const states = 1 << TcpState.SYN_RECV;
const u16be = (buf: Uint8Array, at: number) => (buf[at]! << 8) | buf[at + 1]!;
const u32le = (buf: Uint8Array, at: number) => new DataView(buf.buffer, buf.byteOffset).getUint32(at, true);

test("buildCompatRequest: a port goes into id.idiag_sport (network order, after the 4 request bytes), so the kernel skips other ports", () => {
  const request = buildCompatRequest(states, 7, false, 0x1f90);
  assert.equal(request.byteLength, 16 + 60);
  assert.equal(u16be(request, 16 + 4), 0x1f90, "idiag_sport");
  assert.equal(u16be(request, 16 + 6), 0, "idiag_dport stays a wildcard");
  assert.equal(u32le(request, 16 + 52), states, "idiag_states after the 48-byte sockid");
  assert.equal(u16be(buildCompatRequest(states, 7, false), 16 + 4), 0, "no port: every port");
});

test("buildByFamilyRequest: a port goes into id.idiag_sport (after the 8 request bytes of inet_diag_req_v2)", () => {
  const request = buildByFamilyRequest(10, states, 7, true, 443);
  assert.equal(request.byteLength, 16 + 56);
  assert.equal(request[16], 10, "sdiag_family");
  assert.equal(u32le(request, 20), states, "idiag_states");
  assert.equal(u16be(request, 16 + 8), 443, "idiag_sport");
  assert.equal(u16be(request, 16 + 10), 0, "idiag_dport stays a wildcard");
  assert.equal(u16be(buildByFamilyRequest(10, states, 7, true), 16 + 8), 0, "no port: every port");
});
