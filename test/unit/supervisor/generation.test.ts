/** A generation's state machine: the moves it allows, and what its process's exit does to it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generation, describeExit } from "../../../src/supervisor/generation.ts";
import { FakeProcess } from "../../support/fake-env.ts";
import { waitFor } from "../../support/wait.ts";

function generation(): { gen: Generation; process: FakeProcess } {
  const process = new FakeProcess(4242);
  return { gen: new Generation(2, ["server"], [], process, Date.now()), process };
}

test("generation: starting → serving → draining; readyAt is set on serving", () => {
  const { gen } = generation();
  assert.equal(gen.state, "starting");
  gen.transition("serving", 1234);
  assert.equal(gen.readyAt, 1234);
  gen.transition("draining", 1300);
  assert.equal(gen.state, "draining");
});

test("generation: a move the state machine does not allow throws and changes nothing", () => {
  const { gen } = generation();
  assert.throws(() => gen.transition("draining", 1), /generation 2: no transition starting → draining/);
  assert.equal(gen.state, "starting");
  gen.transition("failed", 1);
  assert.throws(() => gen.transition("serving", 1), /no transition failed → serving/);
});

test("generation: the process's exit ends a starting or serving generation, but keeps draining and failed", async () => {
  for (const [before, after] of [["starting", "exited"], ["serving", "exited"], ["draining", "draining"], ["failed", "failed"]] as const) {
    const { gen, process } = generation();
    if (before === "serving" || before === "draining") gen.transition("serving", 1);
    if (before === "draining") gen.transition("draining", 1);
    if (before === "failed") gen.transition("failed", 1);
    process.exit(0);
    await waitFor(() => !gen.alive, { what: "the exit to be seen" });
    assert.equal(gen.state, after, `exit while ${before}`);
    assert.deepEqual(gen.exitStatus, { code: 0, signal: null });
  }
});

test("generation: stop sends the stop signal, then SIGKILLs the group even after a clean exit", async () => {
  const { gen, process } = generation();
  const status = await gen.stop("SIGTERM", 1000);
  assert.deepEqual(status, { code: 0, signal: null });
  assert.deepEqual(process.signals, ["SIGTERM", "SIGKILL"]);
});

test("generation: a process that ignores the stop signal is killed after the drain timeout", async () => {
  const { gen, process } = generation();
  process.exitsOnStopSignal = false;
  const status = await gen.stop("SIGTERM", 30);
  assert.deepEqual(status, { code: null, signal: "SIGKILL" });
  assert.equal(describeExit(status), "killed by SIGKILL");
});
