/**
 * Quick start: declare a queue, define a typed job type, enqueue, run a worker in-process, read the result.
 * Run: npx tsx examples/quickstart.ts [sqlite:PATH]
 */
import { NonRetryableError, Spool, Type } from '../src/index.js';

const url = process.argv[2] ?? 'sqlite:./.spool/example.db';
const spool = await Spool.open(url);

await spool.declareQueue('emails', {
  maxAttempts: 5,
  backoff: { initialSeconds: 1, maxSeconds: 300, multiplier: 2 },
  concurrency: 8,
});

const sendWelcome = spool.defineJob({
  type: 'send-welcome',
  queue: 'emails',
  version: 2,
  schema: Type.Object({ email: Type.String({ format: 'email' }), name: Type.String() }, { additionalProperties: false }),
  // v1 payloads were { to } — upcast them so the handler only ever sees v2.
  upcasters: { 1: (p) => ({ email: (p as { to: string }).to, name: 'friend' }) },
  handler: async (payload, ctx) => {
    if (payload.email.endsWith('@invalid.example')) throw new NonRetryableError('mailbox does not exist');
    // A side effect wrapped in ctx.step runs once even if this job is retried later.
    const messageId = await ctx.step('send', async () => `msg-${ctx.job.id.slice(-6)}`);
    await ctx.progress({ sent: true });
    return { messageId };
  },
});

const worker = await spool.work({ queues: ['emails'] });

const accepted = await sendWelcome.enqueue({ email: 'ada@example.com', name: 'Ada' }, { idempotencyKey: 'signup-42' });
const again = await sendWelcome.enqueue({ email: 'ada@example.com', name: 'Ada' }, { idempotencyKey: 'signup-42' });
console.log(`accepted ${accepted.id} (${accepted.state}); same key again → ${again.id}, replayed=${again.replayed}`);

const done = await spool.waitFor(accepted.id, { timeoutMs: 10_000 });
console.log(`job ${done.id} is ${done.state}: ${JSON.stringify(done.result)}`);
console.log(done.history.map((h) => `  ${h.at.toISOString()} ${h.state} (attempt ${h.attempt})`).join('\n'));

await worker.stop();
await spool.close();
