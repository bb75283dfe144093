/**
 * A failed start rolls back and leaves the serving generation untouched, under load, with 0 failed
 * connections: the new generation exits at once, never becomes ready, or dies right after ready.
 */
import { test } from "node:test";
import { e2eSkipReason } from "../support/netns.ts";
import { NODE_FIXTURE, fixture } from "../support/launcher.ts";
import { failedUpgradesUnderLoad, assertStillServing } from "../support/scenario.ts";

const skip = e2eSkipReason();
const ROLLED_BACK = /rolled back, generation 1 is still serving/;

test("rollback: the new generation exits at once → exit 1, reason given, generation 1 serves, 0 failed", { skip }, () =>
  failedUpgradesUnderLoad({
    port: 23101, launcherArgs: [], times: 3,
    upgradeArgs: ["--cmd", `env FIXTURE_EXIT_AT_START=3 ${NODE_FIXTURE}`],
    expected: [/exited \(exit 3\) before it was ready/, ROLLED_BACK],
    then: assertStillServing,
  }));

test("rollback: the new generation never becomes ready → rolled back after --ready-timeout, 0 failed", { skip }, () =>
  failedUpgradesUnderLoad({
    port: 23111, launcherArgs: ["--ready-timeout", "1s"], times: 2,
    upgradeArgs: ["--cmd", `env FIXTURE_NEVER_READY=1 ${NODE_FIXTURE}`],
    expected: [/not ready after 1\.0 s/, ROLLED_BACK],
    then: assertStillServing,
  }));

test("rollback: the new generation crashes after ready, before the handoff → rolled back, 0 failed", { skip }, () =>
  failedUpgradesUnderLoad({
    port: 23121, launcherArgs: ["--ready", `exec:${fixture("ready-then-crash.sh")}`], times: 2,
    upgradeArgs: [],
    expected: [/exited right after it was ready/, ROLLED_BACK],
    then: assertStillServing,
  }));
