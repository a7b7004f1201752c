/**
 * Handlers module for `spool work --handlers` in test/faults/pg-outage.test.ts: the run-logging handler of
 * pg-handlers.ts (`<jobId> <pid> <attempt>` per run to `<PG_NODES_RUN_DIR>/runs-<pid>.log`, a random
 * 0..PG_NODES_DELAY_MS ms wait, `{ pid }` as the result) under the outage test's queue name.
 */
import handlers from './pg-handlers.js';

export default { 'pg-outage': handlers['pg-nodes'] };
