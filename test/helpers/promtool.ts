/**
 * `promtool` (Prometheus's own checker) for the metrics tests: `findPromtool()` answers its path, and
 * `checkMetrics(text)` pipes an exposition into `promtool check metrics`, answering its exit code and output.
 *
 * Where it comes from, in order: PATH; then, when the process is root and apt-get exists, Debian's
 * `prometheus` package installed by the helper itself (so `npm test` works on a fresh machine without CI's
 * install step; `apt-get update` only if the package lists lack it; dpkg's lock is waited for, so parallel
 * test files and other installers take turns). Otherwise it throws with what to install — never a skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

let found: string | undefined;

function onPath(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      /* not here */
    }
  }
  return null;
}

function apt(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** The path of a working `promtool`, installing Debian's `prometheus` package when allowed (see above). */
export function findPromtool(): string {
  if (found) return found;
  const existing = onPath('promtool') ?? (isExecutable('/usr/bin/promtool') ? '/usr/bin/promtool' : null);
  if (existing) return (found = existing);

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !onPath('apt-get')) {
    throw new Error(
      'promtool is not on PATH and cannot be installed here (needs root and apt-get). Install Prometheus\'s promtool ' +
        '(Debian/Ubuntu: `apt-get install prometheus`; or a release from prometheus.io) and put it on PATH.',
    );
  }
  const install = ['install', '-y', '--no-install-recommends', 'prometheus'];
  let r = apt(install);
  if (!r.ok) {
    // A fresh image has empty package lists: read them, then try once more.
    const update = apt(['update']);
    if (!update.ok) throw new Error(`apt-get update failed while installing promtool:\n${update.output}`);
    r = apt(install);
  }
  if (!r.ok) throw new Error(`apt-get install prometheus (for promtool) failed:\n${r.output}`);
  const installed = onPath('promtool') ?? (isExecutable('/usr/bin/promtool') ? '/usr/bin/promtool' : null);
  if (!installed) throw new Error(`apt-get installed prometheus but no promtool is on PATH or at /usr/bin/promtool:\n${r.output}`);
  return (found = installed);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface PromtoolResult {
  readonly code: number | null;
  /** stdout and stderr together: `promtool check metrics` prints its problems (lint warnings included) there. */
  readonly output: string;
}

/** `promtool check metrics` on `text` (fed on stdin). */
export function checkMetrics(text: string): Promise<PromtoolResult> {
  const promtool = findPromtool();
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}
