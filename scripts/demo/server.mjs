#!/usr/bin/env node
/**
 * The demo server: a plain Node HTTP server that takes its listening socket from reuse-run
 * (systemd's socket-activation protocol: fd 3, LISTEN_FDS, LISTEN_PID) and stops gracefully.
 * This is all a server needs to be upgraded without a single reset in pass mode.
 */
import http from "node:http";

if (Number(process.env.LISTEN_PID) !== process.pid || Number(process.env.LISTEN_FDS) < 1) {
  console.error("demo server: run me under reuse-run (no LISTEN_FDS/LISTEN_PID for this process)");
  process.exit(1);
}
const generation = process.env.REUSE_RUN_GENERATION;
const greeting = process.env.DEMO_GREETING ?? "hello";
let draining = false;
const server = http.createServer((req, res) => {
  if (draining) res.setHeader("Connection", "close");
  res.end(`${greeting} from generation ${generation} (pid ${process.pid})\n`);
});
// Pass the backlog explicitly: Node would otherwise re-listen() the inherited socket with 511.
server.listen({ fd: 3 }, 4096);
process.on("SIGTERM", () => {
  draining = true; // stop accepting, finish what is in flight, then exit
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 10_000).unref();
});
