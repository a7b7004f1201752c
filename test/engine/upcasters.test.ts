import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, Type, ValidationError } from '../../src/index.js';
import { forEachStore, openSpool, waitAllTerminal } from './harness.js';

const V1 = Type.Object({ to: Type.String() }, { additionalProperties: false });
const V3 = Type.Object({ email: Type.String({ format: 'email' }), name: Type.String() }, { additionalProperties: false });

forEachStore(() => {
  describe('Job types › versions and upcasters', () => {
    it('upcasts a v1 payload stored before v2 and v3 were defined before the handler sees it', async () => {
      // Producer of yesterday: only v1 exists.
      const before = await openSpool();
      await before.spool.declareQueue('greetings');
      const v1Type = before.spool.defineJob({ type: 'greet', queue: 'greetings', schema: V1 });
      const old = await v1Type.enqueue({ to: 'ada@example.com' });
      await before.spool.close();

      // Today: v3, with upcasters 1→2 and 2→3.
      const { spool } = await openSpool({ url: before.url });
      const seen: Array<{ payload: unknown; version: number }> = [];
      const greet = spool.defineJob({
        type: 'greet',
        queue: 'greetings',
        version: 3,
        schema: V3,
        upcasters: {
          1: (p) => ({ email: (p as { to: string }).to }),
          2: (p) => ({ ...(p as { email: string }), name: 'friend' }),
        },
        handler: async (payload, ctx) => {
          seen.push({ payload, version: ctx.job.version });
          return `hello ${payload.name} <${payload.email}>`;
        },
      });
      const current = await greet.enqueue({ email: 'grace@example.com', name: 'Grace' });
      // An older producer may still send v2: validated after upcasting.
      const fromV2 = await spool.enqueue('greetings', { email: 'alan@example.com' }, { type: 'greet', version: 2 });
      await spool.work({ queues: ['greetings'] });

      const [oldJob, currentJob, v2Job] = await waitAllTerminal(spool, [old.id, current.id, fromV2.id]);
      expect(oldJob!.state).toBe('completed');
      expect(oldJob!.result).toBe('hello friend <ada@example.com>');
      expect(currentJob!.result).toBe('hello Grace <grace@example.com>');
      expect(v2Job!.result).toBe('hello friend <alan@example.com>');
      // The handler only ever saw v3 payloads; the job keeps its stored version and payload.
      expect(seen).toHaveLength(3);
      for (const s of seen) expect(Object.keys(s.payload as object).sort()).toEqual(['email', 'name']);
      expect(seen.map((s) => s.version).sort()).toEqual([1, 2, 3]);
      expect(oldJob!.version).toBe(1);
      expect(oldJob!.payload).toEqual({ to: 'ada@example.com' });
    });

    it('validates an old-version payload after upcasting it, and refuses versions from the future', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('greetings');
      spool.defineJob({
        type: 'greet',
        queue: 'greetings',
        version: 2,
        schema: V3,
        upcasters: { 1: (p) => ({ email: (p as { to: string }).to, name: 'friend' }) },
      });
      await expect(spool.enqueue('greetings', { to: 'not an email' }, { type: 'greet', version: 1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(spool.enqueue('greetings', { email: 'a@example.com', name: 'A' }, { type: 'greet', version: 3 })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(spool.enqueue('greetings', { to: 'ok@example.com' }, { type: 'greet', version: 1 })).resolves.toMatchObject({ state: 'queued' });
      const [stats] = await spool.stats('greetings');
      expect(stats!.counts.queued).toBe(1);
    });

    it('fails the attempt when a stored payload cannot be upcast (job version newer than the worker knows)', async () => {
      const newer = await openSpool();
      await newer.spool.declareQueue('greetings');
      newer.spool.defineJob({ type: 'greet', queue: 'greetings', version: 2, schema: V3, upcasters: { 1: (p) => p } });
      const job = await newer.spool.enqueue('greetings', { email: 'a@example.com', name: 'A' }, { type: 'greet', maxAttempts: 1 });
      await newer.spool.close();

      const { spool } = await openSpool({ url: newer.url });
      let ran = false;
      spool.defineJob({ type: 'greet', queue: 'greetings', schema: V1, handler: () => (ran = true) });
      await spool.work({ queues: ['greetings'] });
      const [dead] = await waitAllTerminal(spool, [job.id]);
      expect(dead!.state).toBe('dead');
      expect(dead!.lastError?.message).toMatch(/no version 2/);
      expect(ran).toBe(false);
    });
  });
});
