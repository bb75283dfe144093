/**
 * StickySteering owns a group's order and what its program is meant to do, so a member leaving
 * re-applies the program with the indexes that reach the same members. The kernel side is a
 * recording fake here; test/unit/net/reuseport-steering.test.ts attaches the real programs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { StickySteering, type SteeringPrograms } from "../../../src/supervisor/sticky-steering.ts";
import { parseListenAddress } from "../../../src/config/listen-address.ts";
import type { Listener } from "../../../src/net/listener.ts";

const address = parseListenAddress("127.0.0.1:8080");
const other = parseListenAddress("127.0.0.1:9090");

/** A socket of generation `n`: inode 100 + n, the launcher's fd 10 + n (pass mode). */
const socket = (n: number, at = address): Listener => ({ address: at, fd: 10 + n, inode: 100 + n, backlog: 128 });

/** Programs that record each attach as "point fd=#index", "weigh fd=#to/#from share" or "detach fd". */
function recorder(failOn?: (call: string) => boolean) {
  const calls: string[] = [];
  const record = (call: string) => {
    if (failOn?.(call)) throw new Error(`setsockopt failed: ${call}`);
    calls.push(call);
  };
  const programs: SteeringPrograms = {
    point: (fd, index) => record(`point ${fd}=#${index}`),
    weigh: (fd, o) => record(`weigh ${fd}=#${o.toIndex}/#${o.fromIndex} ${o.share}`),
    detach: (fd) => record(`detach ${fd}`),
    borrow: (owner, use) => use(1000 + owner.fd),
  };
  return { calls, programs };
}

test("a leave re-applies the program: it still reaches the member it was pointed at", () => {
  const { calls, programs } = recorder();
  const steering = new StickySteering(undefined, programs);
  const [g1, g2, g3] = [socket(1), socket(2), socket(3)];
  for (const g of [g1, g2, g3]) steering.join(g);
  steering.pointAt([g2]);
  steering.leave(g1); // the kernel moves g3 into slot 0: [g3, g2]; g2 stays at 1
  steering.pointAt([g3]);
  steering.leave(g2); // [g3]
  assert.deepEqual(calls, ["point 11=#1", "point 12=#1", "point 12=#0", "point 13=#0"]);
});

test("a leave that moves the target re-points at its new slot (the case a guessed re-point got wrong)", () => {
  const { calls, programs } = recorder();
  const steering = new StickySteering(undefined, programs);
  const [g1, g2, g3] = [socket(1), socket(2), socket(3)];
  for (const g of [g1, g2, g3]) steering.join(g);
  steering.pointAt([g3]); // the gate of 2 → 3
  steering.leave(g1); // generation 1 leaves during that handoff: [g3, g2]
  assert.deepEqual(calls, ["point 11=#2", "point 12=#0"]);
});

test("a canary's split follows a leave with both of its indexes", () => {
  const { calls, programs } = recorder();
  const steering = new StickySteering(undefined, programs);
  const [g1, g2, g3] = [socket(1), socket(2), socket(3)];
  for (const g of [g1, g2, g3]) steering.join(g);
  steering.weigh([g2], [g3], 2500, "random");
  steering.leave(g1);
  assert.deepEqual(calls, ["weigh 11=#2/#1 2500", "weigh 12=#0/#1 2500"]);
});

test("each group keeps its own program; a leave in one leaves the other alone", () => {
  const { calls, programs } = recorder();
  const steering = new StickySteering(undefined, programs);
  const [a1, a2, b1, b2] = [socket(1), socket(2), socket(3, other), socket(4, other)];
  for (const g of [a1, a2, b1, b2]) steering.join(g);
  steering.pointAt([a2, b2]);
  steering.leave(a1);
  assert.deepEqual(calls, ["point 11=#1", "point 13=#1", "point 12=#0"]);
});

test("nothing is re-applied for a socket the model does not hold, or after detach", () => {
  const { calls, programs } = recorder();
  const steering = new StickySteering(undefined, programs);
  const [g1, g2, g3] = [socket(1), socket(2), socket(3)];
  steering.join(g1);
  steering.join(g2);
  steering.pointAt([g2]);
  steering.leave(g3); // never joined
  steering.detach([g2]);
  steering.leave(g1);
  assert.deepEqual(calls, ["point 11=#1", "detach 11"]);
});

test("a target that is not a member yet changes neither the program nor what a leave re-applies", () => {
  const { calls, programs } = recorder();
  const steering = new StickySteering(undefined, programs);
  const [g1, g2, g3] = [socket(1), socket(2), socket(3)];
  steering.join(g1);
  steering.join(g2);
  steering.pointAt([g2]);
  steering.pointAt([g3]); // not listening yet: skipped, as before
  steering.leave(g1);
  assert.deepEqual(calls, ["point 11=#1", "point 12=#0"]);
});

test("a re-apply that fails is a warning, never an exception from leave", () => {
  const { calls, programs } = recorder((call) => call === "point 12=#0");
  const warnings: string[] = [];
  const steering = new StickySteering((message) => warnings.push(message), programs);
  const [g1, g2] = [socket(1), socket(2)];
  steering.join(g1);
  steering.join(g2);
  steering.pointAt([g2]);
  assert.doesNotThrow(() => steering.leave(g1));
  assert.deepEqual(calls, ["point 11=#1"]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^127\.0\.0\.1:8080: the steering program could not follow socket 101 leaving its group: setsockopt failed: point 12=#0$/);
});

test("self-bind: with no fd of its own it attaches through a duplicate of the owner's socket", () => {
  const { calls, programs } = recorder();
  const steering = new StickySteering(undefined, programs);
  const g1: Listener = { ...socket(1), fd: -1, owner: { pid: 41, fd: 3 } };
  const g2: Listener = { ...socket(2), fd: -1, owner: { pid: 42, fd: 4 } };
  steering.join(g1);
  steering.join(g2);
  steering.pointAt([g2]);
  steering.leave(g1);
  assert.deepEqual(calls, ["point 1004=#1", "point 1004=#0"]);
});
