/** `--config FILE` sections beyond queues: topics and schedules, applied after the queues they name. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/cli/config-file.js';
import { forEachStore, openSpool, tempDir } from '../engine/harness.js';

forEachStore(() => {
  describe('loadConfigFile', () => {
    it('declares queues, then topics and schedules over them; applying it twice changes nothing', async () => {
      const { spool } = await openSpool();
      const file = join(tempDir(), 'spool.json');
      writeFileSync(
        file,
        JSON.stringify({
          queues: { emails: { maxAttempts: 3 }, audit: {} },
          topics: { signups: { queues: ['emails', 'audit'] } },
          schedules: { digest: { cron: '0 8 * * MON', timezone: 'Europe/Berlin', queue: 'emails', payload: { kind: 'digest' } } },
        }),
      );
      await loadConfigFile(spool, file);
      await loadConfigFile(spool, file);
      expect((await spool.getTopic('signups')).queues).toEqual(['emails', 'audit']);
      expect(await spool.getSchedule('digest')).toMatchObject({ queue: 'emails', timezone: 'Europe/Berlin', payload: { kind: 'digest' } });
      expect((await spool.publish('signups', { n: 1 })).jobs).toHaveLength(2);
    });

    it('refuses a topic over an undeclared queue, a bad schedule and a section that is not an object', async () => {
      const { spool } = await openSpool();
      const dir = tempDir();
      const write = (name: string, config: unknown) => {
        writeFileSync(join(dir, name), JSON.stringify(config));
        return join(dir, name);
      };
      await expect(loadConfigFile(spool, write('a.json', { topics: { t: { queues: ['nope'] } } }))).rejects.toMatchObject({ code: 'validation_failed', errors: [{ path: '/queues/0' }] });
      await expect(
        loadConfigFile(spool, write('b.json', { queues: { q: {} }, schedules: { s: { cron: '0 8 * * *', timezone: 'Nowhere/Land', queue: 'q', payload: null } } })),
      ).rejects.toMatchObject({ code: 'validation_failed', errors: [{ path: '/timezone' }] });
      await expect(loadConfigFile(spool, write('c.json', { topics: ['t'] }))).rejects.toThrow(/"topics" must be an object keyed by name/);
      expect(await spool.listSchedules()).toEqual([]);
    });

    it('reads YAML files (by extension) the same way, and returns the handlers module relative to the file', async () => {
      const { spool } = await openSpool();
      const dir = tempDir();
      const file = join(dir, 'spool.yaml');
      writeFileSync(
        file,
        [
          'queues:',
          '  emails: { maxAttempts: 3 }',
          '  audit: {}',
          'topics:',
          '  signups:',
          '    queues: [emails, audit]',
          'handlers: ./handlers.js',
          '',
        ].join('\n'),
      );
      expect(await loadConfigFile(spool, file)).toEqual({ handlers: join(dir, 'handlers.js') });
      expect((await spool.getQueue('emails')).config).toMatchObject({ maxAttempts: 3 });
      expect((await spool.getTopic('signups')).queues).toEqual(['emails', 'audit']);
      expect(await loadConfigFile(spool, join(dir, 'spool.yaml'))).toEqual({ handlers: join(dir, 'handlers.js') });

      const write = (name: string, text: string) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      await expect(loadConfigFile(spool, write('dup.yml', 'queues:\n  a: {}\n  a: {}\n'))).rejects.toThrow(/cannot read config .*dup\.yml/);
      await expect(loadConfigFile(spool, write('list.yaml', '- queues\n'))).rejects.toThrow(/must be an object at the top level/);
      await expect(loadConfigFile(spool, write('h.yaml', 'handlers: 5\n'))).rejects.toThrow(/"handlers" must be a module path/);
      await expect(loadConfigFile(spool, write('bad.json', 'queues: {}'))).rejects.toThrow(/cannot read config .*bad\.json/);
      expect(await loadConfigFile(spool, write('none.json', '{"queues": {}}'))).toEqual({ handlers: null });
    });
  });
});
