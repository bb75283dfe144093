/** What each control-socket request does: `status`, `stop` and `upgrade`, answered by the supervisor. */
import { messageOf } from "../errors/reuse-run-error.ts";
import type { ControlEvent } from "../control/protocol.ts";
import type { RequestHandler } from "../control/server.ts";
import type { Supervisor } from "../supervisor/supervisor.ts";
import { UpgradeFailedError } from "../supervisor/report.ts";

/** The request handler of a launcher; `stop` schedules `gracefulStop` after answering. */
export function controlRoutes(supervisor: Supervisor, gracefulStop: (reason: string) => void): RequestHandler {
  return async (request, emit): Promise<ControlEvent> => {
    switch (request.cmd) {
      case "status":
        return { event: "result", ok: true, data: supervisor.status() };
      case "stop":
        setTimeout(() => gracefulStop("stop requested over the control socket"), 0);
        return { event: "result", ok: true, data: { stopping: true, pid: process.pid } };
      case "upgrade": {
        const started = Date.now();
        try {
          const report = await supervisor.upgrade(request.argv, request.queue !== false, (step, message) =>
            emit({ event: "progress", step, message, elapsedMs: Date.now() - started }));
          return { event: "result", ok: true, data: report };
        } catch (error) {
          return { event: "result", ok: false, error: messageOf(error), data: error instanceof UpgradeFailedError ? error.report : undefined };
        }
      }
    }
  };
}
