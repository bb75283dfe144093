/** What each control-socket request does: `status`, `stop`, `upgrade`, `promote` and `rollback`, answered by the supervisor. */
import { UsageError, messageOf } from "../errors/reuse-run-error.ts";
import type { ControlEvent } from "../control/protocol.ts";
import type { RequestHandler } from "../control/server.ts";
import type { Supervisor } from "../supervisor/supervisor.ts";
import { UpgradeFailedError } from "../supervisor/report.ts";
import { promote, rollback } from "../supervisor/decisions.ts";

/** The request handler of a launcher; `stop` schedules `gracefulStop` after answering. */
export function controlRoutes(supervisor: Supervisor, gracefulStop: (reason: string) => void): RequestHandler {
  return async (request, emit): Promise<ControlEvent> => {
    const started = Date.now();
    const progress = (step: string, message: string) => emit({ event: "progress", step, message, elapsedMs: Date.now() - started });
    switch (request.cmd) {
      case "status":
        return { event: "result", ok: true, data: supervisor.status() };
      case "stop":
        setTimeout(() => gracefulStop("stop requested over the control socket"), 0);
        return { event: "result", ok: true, data: { stopping: true, pid: process.pid } };
      case "upgrade":
        return answer(() => supervisor.upgrade(request.argv, request.queue !== false, progress, request.policy));
      case "promote":
      case "rollback":
        if (supervisor.isStopping()) return answer(() => Promise.reject(new UsageError(`the launcher is stopping; no ${request.cmd}`)));
        return answer(() => (request.cmd === "promote" ? promote : rollback)(supervisor.upgrades, supervisor, progress));
    }
  };
}

/** The result event of one request; bad input (nothing changed) is marked so the client exits 2. */
async function answer(run: () => Promise<unknown>): Promise<ControlEvent> {
  try {
    return { event: "result", ok: true, data: await run() };
  } catch (error) {
    return {
      event: "result", ok: false, error: messageOf(error),
      data: error instanceof UpgradeFailedError ? error.report : undefined,
      ...(error instanceof UsageError ? { usage: true } : {}),
    };
  }
}
