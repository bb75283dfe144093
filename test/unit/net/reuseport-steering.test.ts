import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { ReuseportGroup, attachSteering, attachWeightedSteering } from "../../../src/net/reuseport-steering.ts";

describe("ReuseportGroup (model of the kernel's reuseport order)", () => {
  test("join appends in listen order", () => {
    const group = new ReuseportGroup();
    assert.equal(group.join(100), 0);
    assert.equal(group.join(200), 1);
    assert.equal(group.join(300), 2);
    assert.deepEqual(group.inodes, [100, 200, 300]);
    assert.equal(group.size, 3);
    assert.equal(group.indexOf(200), 1);
    assert.equal(group.indexOf(999), -1);
  });

  test("joining twice keeps the first slot", () => {
    const group = new ReuseportGroup();
    group.join(1);
    group.join(2);
    assert.equal(group.join(1), 0);
    assert.deepEqual(group.inodes, [1, 2]);
  });

  test("leave moves the last member into the leaving slot", () => {
    const group = new ReuseportGroup();
    for (const inode of [10, 20, 30, 40]) group.join(inode);
    group.leave(10);
    assert.deepEqual(group.inodes, [40, 20, 30]);
    assert.equal(group.indexOf(40), 0);
    group.leave(20);
    assert.deepEqual(group.inodes, [40, 30]);
  });

  test("leaving the last member just shrinks the group", () => {
    const group = new ReuseportGroup();
    group.join(1);
    group.join(2);
    group.leave(2);
    assert.deepEqual(group.inodes, [1]);
    group.leave(1);
    assert.deepEqual(group.inodes, []);
    assert.equal(group.size, 0);
  });

  test("leave of an unknown inode changes nothing", () => {
    const group = new ReuseportGroup();
    group.join(1);
    group.join(2);
    group.leave(3);
    assert.deepEqual(group.inodes, [1, 2]);
  });

  test("a generation swap: old leaves, the new one takes slot 0", () => {
    const group = new ReuseportGroup();
    group.join(111); // generation 1
    group.join(222); // generation 2 joins at index 1
    assert.equal(group.indexOf(222), 1);
    group.leave(111);
    assert.equal(group.indexOf(222), 0);
    group.join(333); // generation 3
    assert.equal(group.indexOf(333), 1);
  });
});

describe("attachSteering and attachWeightedSteering (argument checks, no socket needed)", () => {
  test("a bad weighted program is refused before any system call", () => {
    assert.throws(() => attachWeightedSteering(-1, { toIndex: 1, fromIndex: 0, share: 10_001, sticky: "random" }), RangeError);
    assert.throws(() => attachSteering(-1, -1), RangeError);
  });

  test("the kernel's refusal names the program that was being attached", () => {
    assert.throws(() => attachSteering(-1, 1), /SO_ATTACH_REUSEPORT_CBPF, ret #1\): EBADF/);
    assert.throws(() => attachWeightedSteering(-1, { toIndex: 1, fromIndex: 0, share: 1000, sticky: "client-ip" }),
      /SO_ATTACH_REUSEPORT_CBPF, 1000\/10000 to #1, rest to #0, client-ip\): EBADF/);
  });
});
