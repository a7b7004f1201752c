import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/index.js';
import { forEachStore, openSpool } from './harness.js';

forEachStore(() => {
  describe('spool.work › which queues a worker serves when none are named', () => {
    it('a handler keyed by a declared queue serves that queue', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('emails');
      const worker = await spool.work({ handlers: { emails: async () => 'sent' } });
      const { id } = await spool.enqueue('emails', {});
      expect((await spool.waitFor(id, { timeoutMs: 20_000 })).result).toBe('sent');
      await worker.stop();
    });

    it('a handler keyed by a defined job type serves that type’s queue', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('mail');
      const send = spool.defineJob({ type: 'send', queue: 'mail' });
      await spool.work({ handlers: { send: async () => 'typed' } });
      const { id } = await send.enqueue({});
      expect((await spool.waitFor(id, { timeoutMs: 20_000 })).result).toBe('typed');
    });

    it('a key naming neither a queue nor a type is a clear error, and works once the queues are named', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('mail');
      const handlers = { 'send-receipt': async () => 'by type' };
      const failure = await spool.work({ handlers }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(InvalidArgumentError);
      expect((failure as Error).message).toMatch(/"send-receipt" names neither a declared queue nor a defined job type/);
      await spool.work({ handlers, queues: ['mail'] });
      const { id } = await spool.enqueue('mail', {}, { type: 'send-receipt' });
      expect((await spool.waitFor(id, { timeoutMs: 20_000 })).result).toBe('by type');
    });
  });
});
