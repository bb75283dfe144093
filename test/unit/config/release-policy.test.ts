/** Shares in basis points, and a policy override as it arrives over the control socket. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkPolicyOverride, formatShare, parseCanarySteps } from "../../../src/config/release-policy.ts";

test("release policy: percentages become basis points, two decimals at most", () => {
  assert.deepEqual(parseCanarySteps("0.1%, 1%,10.5,100%", "--canary"), [10, 100, 1050, 10_000]);
  assert.equal(formatShare(5), "0.05%");
  assert.equal(formatShare(1000), "10%");
  assert.equal(formatShare(1050), "10.5%");
});

test("release policy: an override from the socket is checked field by field", () => {
  assert.deepEqual(checkPolicyOverride(undefined), {});
  assert.deepEqual(checkPolicyOverride({ steps: [100, 1000], pause: true, sticky: "client-ip", keepOldMs: 0 }), { steps: [100, 1000], pause: true, sticky: "client-ip", keepOldMs: 0 });
  assert.throws(() => checkPolicyOverride({ steps: [1000, 100] }), /increasing/);
  assert.throws(() => checkPolicyOverride({ steps: [5] }), /from 10 to 10000/);
  assert.throws(() => checkPolicyOverride({ stepMs: 10 }), /stepMs is out of range/);
  assert.throws(() => checkPolicyOverride({ errorPattern: "(" }), SyntaxError);
  assert.throws(() => checkPolicyOverride({ check: "rm -rf /" }), /non-empty array of strings/);
  assert.throws(() => checkPolicyOverride({ weight: 5 }), /unknown policy field "weight"/);
  assert.throws(() => checkPolicyOverride([1]), /must be an object/);
});
