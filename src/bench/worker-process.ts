/**
 * The child side of `spool bench --processes N`: a separate Node process (forked by ./consumers.ts) that opens
 * the same store as the bench, says `ready`, starts a Spool worker with a no-op handler on `go`, and on `stop`
 * stops it gracefully and reports how many handler runs it made. It exits by itself as soon as the IPC
 * channel to the bench closes (the bench died, however it died), so it is never left behind.
 */
import { Spool } from '../spool.js';

/** What the bench passes in argv[2] (JSON). */
export interface WorkerProcessConfig {
  readonly url: string;
  readonly queue: string;
  readonly concurrency: number;
}

export type ToWorkerProcess = { readonly type: 'go' } | { readonly type: 'stop'; readonly graceMs: number };

export type FromWorkerProcess =
  | { readonly type: 'ready'; readonly pid: number }
  | { readonly type: 'working' }
  | { readonly type: 'stopped'; readonly handled: number }
  | { readonly type: 'error'; readonly message: string };

function send(message: FromWorkerProcess): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, {}, () => resolve());
  });
}

async function fail(error: unknown): Promise<never> {
  await send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('worker-process.ts runs as a child of spool bench (it needs an IPC channel)');
  // However the bench ends (an error, SIGKILL), its end closes this channel: leave at once.
  process.once('disconnect', () => process.exit(2));
  const config = JSON.parse(process.argv[2] ?? '') as WorkerProcessConfig;
  const spool = await Spool.open(config.url);
  let handled = 0;
  spool.handle(config.queue, async () => {
    handled++;
  });
  process.on('message', (message: ToWorkerProcess) => {
    if (message.type === 'go') {
      void spool
        .work({ queues: [config.queue], concurrency: config.concurrency })
        .then(() => send({ type: 'working' }))
        .catch(fail);
    } else if (message.type === 'stop') {
      void (async () => {
        await spool.close({ graceMs: message.graceMs }); // stops the worker gracefully, then closes the store
        await send({ type: 'stopped', handled });
        process.removeAllListeners('disconnect');
        process.exit(0);
      })().catch(fail);
    }
  });
  await send({ type: 'ready', pid: process.pid });
}

main().catch(fail);
