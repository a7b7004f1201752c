/**
 * The processes of the HTTP workloads (./http.ts): a server child — the real `spool serve` CLI, or the bare
 * Fastify route of L0 (./http-limit-server.ts) — started on port 0 and read from its `listening on http://…`
 * line, and the load generator (./http-load.ts, autocannon) forked as a process of its own that reports over
 * IPC. Every wait is bounded, and no child outlives the bench: they are killed (SIGKILL) when it exits, and
 * the load child exits by itself when its IPC channel to the bench closes.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { LoadConfig, LoadResult } from './http-load.js';

const LISTENING = /listening on (http:\/\/\S+)/;
const START_TIMEOUT_MS = 60_000;
/** Beyond the run's own duration: starting autocannon and handing the ids back. */
const LOAD_SLACK_MS = 60_000;
/** How much of a server's stderr is kept for an error message. */
const TAIL_BYTES = 4096;

const live = new Set<ChildProcess>();
let exitHook = false;

/** SIGKILL whatever still runs when the bench process exits, however it ends. */
function watch(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** A module next to this one (or `../cli/main` for the CLI): `.ts` under tsx (from src/), `.js` from dist/. */
export function benchModule(name: string): { module: string; execArgv: string[] } {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const module = fileURLToPath(new URL(`${name}${ext}`, import.meta.url));
  const needsTsx = ext === '.ts' && !process.execArgv.some((a) => a.includes('tsx'));
  return { module, execArgv: needsTsx ? [...process.execArgv, '--import', 'tsx'] : process.execArgv };
}

/** A server in a child process, listening on 127.0.0.1 at a port it picked. */
export class ServerProcess {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #name: string;
  readonly #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #tail: () => string;

  private constructor(child: ChildProcess, name: string, url: string, exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>, tail: () => string) {
    this.#child = child;
    this.#name = name;
    this.url = url;
    this.#exit = exit;
    this.#tail = tail;
  }

  /** Start `node <module> <args>`; resolves once it printed its `listening on` line (60 s at most). */
  static start(what: string, name: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ServerProcess> {
    const { module, execArgv } = benchModule(name);
    const child = spawn(process.execPath, [...execArgv, module, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    watch(child);
    const label = `${what} (pid ${child.pid ?? '?'})`;
    let tail = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      tail = (tail + s).slice(-TAIL_BYTES);
    });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return new Promise((resolve, reject) => {
      let out = '';
      const fail = (message: string): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${label} ${message}${tail ? `; its stderr ends: ${tail.trim().split('\n').slice(-5).join(' | ')}` : ''}`));
      };
      const timer = setTimeout(() => fail(`did not print "listening on" within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      child.once('error', (e) => fail(`failed to start: ${e.message}`));
      void exit.then(({ code, signal }) => fail(`exited (${signal ?? `code ${code}`}) before listening`));
      child.stdout!.setEncoding('utf8').on('data', function onData(s: string) {
        out += s;
        const m = LISTENING.exec(out);
        if (!m) return;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining whatever else it prints
        resolve(new ServerProcess(child, label, m[1]!, exit, () => tail));
      });
    });
  }

  /** The last few KiB the server wrote to stderr (its log). */
  get stderrTail(): string {
    return this.#tail();
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** SIGTERM and wait for exit 0 (its graceful shutdown); SIGKILL and fail after `timeoutMs`. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.running) this.#child.kill('SIGTERM');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.#child.kill('SIGKILL');
    }, timeoutMs);
    const { code, signal } = await this.#exit.finally(() => clearTimeout(timer));
    if (timedOut) throw new Error(`${this.#name} did not stop within ${timeoutMs / 1000} s of SIGTERM`);
    if (code !== 0) throw new Error(`${this.#name} exited (${signal ?? `code ${code}`}) on SIGTERM; its stderr ends: ${this.stderrTail.trim().split('\n').slice(-5).join(' | ')}`);
  }

  kill(): void {
    if (this.running) this.#child.kill('SIGKILL');
  }
}

/** Run autocannon in a process of its own (./http-load.ts) and return what it measured. */
export function runLoad(config: LoadConfig): Promise<LoadResult> {
  try {
    createRequire(import.meta.url).resolve('autocannon');
  } catch {
    // A development dependency: the bench's load generator, not something the server needs.
    return Promise.reject(new Error('the HTTP workloads need autocannon, a development dependency of spool: run them from a clone after `npm install`'));
  }
  const { module, execArgv } = benchModule('./http-load');
  // stdout ignored (it would corrupt --json); stderr shared, so a crash's trace is seen.
  const child = fork(module, [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  watch(child);
  const limitMs = config.durationSeconds * 1000 + LOAD_SLACK_MS;
  return new Promise((resolve, reject) => {
    let result: LoadResult | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the load generator (pid ${child.pid ?? '?'}) did not finish within ${limitMs / 1000} s`));
    }, limitMs);
    child.on('message', (m: { type: 'result'; result: LoadResult } | { type: 'error'; message: string }) => {
      if (m.type === 'result') result = m.result;
      else reject(new Error(`the load generator failed: ${m.message}`));
    });
    child.once('error', (e) => reject(new Error(`the load generator failed to start: ${e.message}`)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (result && code === 0) resolve(result);
      else reject(new Error(`the load generator (pid ${child.pid ?? '?'}) exited (${signal ?? `code ${code}`}) without a result`));
    });
  });
}
