/** Poll intervals that double up to a ceiling. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoff } from "../../../src/supervisor/backoff.ts";

test("backoff: the first interval, then doubling, then the ceiling for good", () => {
  const next = backoff(2, 16);
  assert.deepEqual([next(), next(), next(), next(), next(), next()], [2, 4, 8, 16, 16, 16]);
});

test("backoff: a ceiling that is not a power-of-two multiple is reached exactly", () => {
  const next = backoff(1, 10);
  assert.deepEqual([next(), next(), next(), next(), next(), next()], [1, 2, 4, 8, 10, 10]);
});

test("backoff: each returned function keeps its own state", () => {
  const a = backoff(1, 4);
  const b = backoff(1, 4);
  a(); a();
  assert.equal(a(), 4);
  assert.equal(b(), 1);
});
