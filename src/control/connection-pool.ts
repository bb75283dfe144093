/**
 * The launcher's bookkeeping of control connections, so that connections which never send a
 * request cannot pile up (each one holds a file descriptor for the life of the launcher otherwise)
 * and cannot lock out a real client: a connection must send its request within a few seconds, at
 * most `maxConnections` are held, and when the table is full the oldest connection that has not
 * sent a request yet makes room for the new one. A real client sends its request as soon as it is
 * connected, so it is among the newest; the cap is large enough that a burst of connections
 * accepted before its request is read rarely pushes it out, and a client dropped unheard (closed
 * before a single byte came back) connects again (client.ts).
 */

/** Limits on the launcher's control connections (milliseconds and counts). */
export interface ConnectionLimits {
  /** A connection must send its request line within this, or it is closed. */
  requestTimeoutMs: number;
  /** Connections held at once (waiting for a request, being answered, or closing). */
  maxConnections: number;
  /** While a request is handled, a heartbeat event this often, so a client can bound silence. */
  heartbeatMs: number;
  /** After the result (or a refusal), how long a client has to close before it is cut off. */
  lingerMs: number;
  /** Characters a request line may have (requests are a few hundred bytes). */
  maxRequestLength: number;
}

/** The launcher's limits. */
export const DEFAULT_LIMITS: Readonly<ConnectionLimits> = {
  requestTimeoutMs: 5_000,
  maxConnections: 128,
  heartbeatMs: 3_000,
  lingerMs: 5_000,
  maxRequestLength: 64 * 1024,
};

/** What the pool needs from a connection. */
export interface PooledConnection {
  destroy(): void;
}

/** Connections by state: `waiting` for their request (oldest first), or `active`. */
export class ConnectionPool<T extends PooledConnection> {
  private readonly waiting = new Map<T, ReturnType<typeof setTimeout>>();
  private readonly active = new Set<T>();

  constructor(private readonly limits: Pick<ConnectionLimits, "maxConnections" | "requestTimeoutMs">) {}

  /** Connections held now. */
  get size(): number {
    return this.waiting.size + this.active.size;
  }

  /** Connections still waiting for their request. */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /**
   * Takes a new connection, evicting the oldest one without a request if the table is full.
   * Returns false when every slot is busy with a request: the caller turns this one away.
   * `onTimeout` runs if no request arrives within `requestTimeoutMs` (the pool has dropped it then).
   */
  admit(connection: T, onTimeout: () => void): boolean {
    if (this.size >= this.limits.maxConnections) {
      const oldest = this.waiting.keys().next();
      if (oldest.done) return false;
      this.remove(oldest.value);
      oldest.value.destroy();
    }
    const timer = setTimeout(() => {
      if (!this.waiting.has(connection)) return;
      this.remove(connection);
      onTimeout();
    }, this.limits.requestTimeoutMs);
    this.waiting.set(connection, timer);
    return true;
  }

  /** The connection sent its request: it no longer times out and is never evicted. */
  activate(connection: T): void {
    const timer = this.waiting.get(connection);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.waiting.delete(connection);
    this.active.add(connection);
  }

  /** Forgets a connection (closed, timed out or evicted). Idempotent. */
  remove(connection: T): void {
    const timer = this.waiting.get(connection);
    if (timer !== undefined) clearTimeout(timer);
    this.waiting.delete(connection);
    this.active.delete(connection);
  }
}
