/**
 * The package as users get it: `npm pack` of the current sources, installed from the tarball into an empty
 * project (`npm install ./spool-x.y.z.tgz`: dependencies from the npm registry, better-sqlite3's install script
 * run), then used only through the installed copy — the README's quick start (examples/quickstart.ts with
 * `import … from 'spool'`, type-checked against the shipped .d.ts and run), `spool/client`, and
 * `npx spool serve --port 0` answering /healthz, /openapi.json and the dashboard, stopped with SIGTERM (exit 0).
 *
 * Speed (it runs in CI): the tarball is packed from a staging copy holding the files `npm pack` would take, with
 * dist/ from the compiled-CLI build the other suites share (test/cli/spawn.ts) instead of another tsc run; the
 * install prefers the npm cache; and better-sqlite3's `prebuild-install` finds its prebuilt binary as a local
 * prebuild (`npm_config_better_sqlite3_local_prebuilds`, made from this checkout's binary of the same version)
 * instead of downloading it from GitHub — the same unpacking users get, without the network. A different
 * resolved version finds none and compiles from source, as it would for a user without a prebuilt (slower).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type * as TypeScript from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, ROOT } from '../cli/spawn.js';

const run = promisify(execFile);
const rootRequire = createRequire(join(ROOT, 'package.json'));

let work: string;
let project: string;
const children: ChildProcess[] = [];

/** The environment of every child: none of the runner's npm_* (an `npm test` run sets them), SPOOL_* or VITEST*. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|SPOOL_|VITEST|INIT_CWD$)/i.test(k)) continue;
    out[k] = v;
  }
  // The same node for npm, npx and the package's bin as for this test.
  out['PATH'] = `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`;
  return { ...out, ...extra };
}

function npm(args: string[], cwd: string, extra: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return run('npm', args, { cwd, env: env(extra), maxBuffer: 64 * 1024 * 1024, timeout: 8 * 60_000 });
}

/** The package's files as `npm pack` selects them, with dist/ from the shared build of the current sources. */
async function stagePackage(buildDir: string, stage: string): Promise<void> {
  const { stdout } = await npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
  const [listing] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  for (const { path } of listing!.files) {
    if (path.startsWith('dist/')) continue; // this checkout's dist/ may be stale or absent
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    cpSync(join(ROOT, path), join(stage, path));
  }
  cpSync(join(buildDir, 'dist'), join(stage, 'dist'), { recursive: true });
}

/** better-sqlite3's binary of this checkout as the prebuilt tarball prebuild-install looks for. */
async function localPrebuild(dir: string): Promise<void> {
  const pkgDir = dirname(rootRequire.resolve('better-sqlite3/package.json'));
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  mkdirSync(dir, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run('tar', ['-czf', join(dir, name), '-C', pkgDir, 'build/Release/better_sqlite3.node']);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'spool-pack-'));
  const buildDir = await buildCli();
  const stage = join(work, 'stage');
  await stagePackage(buildDir, stage);
  const { stdout } = await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], stage);
  const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
  await localPrebuild(join(work, 'prebuilds'));

  project = join(work, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'spool-pack-test-app', version: '1.0.0', private: true, type: 'module' }, null, 2));
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed!.filename)], project, {
    npm_config_better_sqlite3_local_prebuilds: join(work, 'prebuilds'),
  });
}, 10 * 60_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(-c.pid, 'SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Type-check `files` in the project against the installed package's declarations (TypeScript of this checkout). */
async function typecheck(files: string[]): Promise<void> {
  const tsconfig = {
    compilerOptions: {
      target: 'ES2023', lib: ['ES2023'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')],
    },
    files,
  };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
  await run(process.execPath, [rootRequire.resolve('typescript/bin/tsc'), '-p', join(project, 'tsconfig.json')], { cwd: project, env: env() }).catch((e: { stdout?: string }) => {
    throw new Error(`the installed package does not type-check ${files.join(', ')}:\n${e.stdout ?? String(e)}`);
  });
}

/** TypeScript to JavaScript (the same strip a user's tsx or bundler does), written beside it as .mjs. */
function transpile(file: string): string {
  const ts = rootRequire('typescript') as typeof TypeScript;
  const out = ts.transpileModule(readFileSync(join(project, file), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: true },
  }).outputText;
  const target = file.replace(/\.ts$/, '.mjs');
  writeFileSync(join(project, target), out);
  return target;
}

/** A small program over `spool/client`, run against the served package. */
const CLIENT_PROGRAM = [
  "import { SpoolClient, NotFoundError } from 'spool/client';",
  'const client = new SpoolClient({ url: process.argv[2]! });',
  "await client.putQueue('emails', { maxAttempts: 3 });",
  "const accepted = await client.enqueue('emails', { email: 'ada@example.com' }, { idempotencyKey: 'signup-42' });",
  'const job = await client.getJob(accepted.id);',
  "const missing = await client.getQueue('nope').then(() => 'found', (e: unknown) => (e instanceof NotFoundError ? 'not-found' : String(e)));",
  'console.log(JSON.stringify({ state: job.state, queue: job.queue, missing }));',
].join('\n');

describe('the packed package, installed from its tarball', () => {
  it('ships what it declares: dist with types, the bin, the dashboard; nothing of the sources or tests', () => {
    const pkg = join(project, 'node_modules/spool');
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', manifest.bin['spool']!, 'dashboard/index.html', 'README.md']) {
      expect(() => readFileSync(join(pkg, f)), f).not.toThrow();
    }
    for (const f of ['src', 'test', 'examples', 'tsconfig.json']) expect(() => readFileSync(join(pkg, f)), f).toThrow();
  });

  it("type-checks the quick start (import { Spool } from 'spool') and a spool/client program against the shipped types", async () => {
    const source = readFileSync(join(ROOT, 'examples/quickstart.ts'), 'utf8');
    expect(source).toContain("from '../src/index.js'");
    writeFileSync(join(project, 'quickstart.ts'), source.replace("from '../src/index.js'", "from 'spool'"));
    writeFileSync(join(project, 'client.ts'), CLIENT_PROGRAM);
    await typecheck(['quickstart.ts', 'client.ts']);
  });

  it("runs the README's quick start (examples/quickstart.ts) with import { Spool } from 'spool'", async () => {
    const source = readFileSync(join(ROOT, 'examples/quickstart.ts'), 'utf8');
    writeFileSync(join(project, 'quickstart.ts'), source.replace("from '../src/index.js'", "from 'spool'"));
    const { stdout } = await run(process.execPath, [transpile('quickstart.ts'), `sqlite:${join(project, 'quickstart.db')}`], { cwd: project, env: env(), timeout: 60_000 });
    const [first] = stdout.split('\n');
    const ids = [...first!.matchAll(/[0-9a-f]{8}-[0-9a-f-]{27}/g)].map((m) => m[0]);
    expect(ids, stdout).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(first).toContain('replayed=true');
    expect(stdout).toMatch(/is completed: \{"messageId":"msg-/);
  });

  it('starts `npx spool serve --port 0`: /healthz, /openapi.json, the dashboard and spool/client answer; SIGTERM exits 0', async () => {
    const child = spawn('npx', ['spool', 'serve', '--port', '0'], {
      cwd: project,
      env: env({ SPOOL_LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so afterAll can remove every process npx started
    });
    children.push(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
    const base = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no "listening on" line within 60 s:\n${out}`)), 60_000);
      const check = () => {
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      };
      child.stdout.on('data', check);
      void exited.then((e) => rej(new Error(`npx spool serve exited (${JSON.stringify(e)}) before listening:\n${out}`)));
    });
    expect(out).toContain(`sqlite:${join(project, '.spool/spool.db')}`); // the embedded default, in the project

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    const openapi = await fetch(`${base}/openapi.json`);
    expect(openapi.status).toBe(200);
    const doc = (await openapi.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(doc.paths)).toContain('/v1/queues/{queue}/jobs');
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');

    // spool/client from the installed package, against the running server.
    writeFileSync(join(project, 'client.ts'), CLIENT_PROGRAM);
    const client = await run(process.execPath, [transpile('client.ts'), base], { cwd: project, env: env(), timeout: 30_000 });
    expect(JSON.parse(client.stdout)).toEqual({ state: 'queued', queue: 'emails', missing: 'not-found' });

    // npm exec does not pass SIGTERM on to the command (it exits and leaves the server running), so the
    // server process itself is signalled, as a process manager would; npx then exits with its exit code.
    const pid = Number(/"pid":(\d+)/.exec(out)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(child.pid);
    process.kill(pid, 'SIGTERM');
    const exit = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running after 30 s'), 30_000))]);
    expect(exit, out).toEqual({ code: 0, signal: null });
  });
});
