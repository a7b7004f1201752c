/**
 * What the server's parts share: the stop flag and the helpers route modules get from `buildApp` (app.ts).
 * Its own module so route modules import these types without importing app.ts, which imports them.
 */
import type { Spool } from '../spool.js';
import type { AcceptPath } from './accept.js';
import type { JobWaiter } from './job-waiter.js';
import type { ServerMetrics } from './metrics.js';
import type { QueueMonitor } from './queue-monitor.js';

export interface ServerState {
  /** Set when the server begins to stop: /v1 answers 503 and /readyz 503 from then on. */
  shuttingDown: boolean;
}

/** What route modules get: the facade and the server's helpers around it. */
export interface ServerContext {
  readonly spool: Spool;
  readonly state: ServerState;
  readonly monitor: QueueMonitor;
  readonly accept: AcceptPath;
  readonly waiter: JobWaiter;
  /** This process's HTTP and admission series (`/metrics`). */
  readonly metrics: ServerMetrics;
}
