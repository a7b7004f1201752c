/**
 * The consuming side of the drain-type workloads (W3 drain, W5 sustained), called by ./workloads.ts: either a
 * worker in the bench's own process (the standard workloads) or, for `spool bench --processes N`, N separate
 * Node processes forked from ./worker-process.ts, each opening the same store and running a Spool worker with
 * the workload's concurrency and a no-op handler. Children are killed if the bench fails or exits, every wait
 * on them is bounded, and they exit by themselves when the bench's IPC channel closes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Spool } from '../spool.js';
import type { Worker } from '../worker/runtime.js';
import type { FromWorkerProcess, ToWorkerProcess, WorkerProcessConfig } from './worker-process.js';

export interface Consumers {
  /** Start consuming. The workload's clock starts just before this call. */
  start(): Promise<void>;
  /** The first failure of a consumer (a worker process that died or reported an error), if any. */
  failure(): Error | undefined;
  /** How often the workload polls the store's counters while these consumers run. */
  readonly pollMs: number;
  /** Stop gracefully and release everything. Worker processes: the handler runs each one made. */
  stop(options?: { graceMs?: number }): Promise<readonly number[] | null>;
}

export interface ConsumerOptions {
  readonly spool: Spool;
  /** The store URL the bench's own `spool` opened (worker processes open it too). */
  readonly location: string;
  readonly queue: string;
  readonly concurrency: number;
  /** 1: a worker in this process; N > 1: N worker processes. */
  readonly processes: number;
  readonly progress: (message: string) => void;
}

/** Set up the consumers without starting them: worker processes are forked and have opened the store. */
export async function prepareConsumers(options: ConsumerOptions): Promise<Consumers> {
  if (options.processes <= 1) return new InProcess(options);
  return WorkerProcesses.fork(options);
}

const noop = async (): Promise<void> => {};

class InProcess implements Consumers {
  readonly #options: ConsumerOptions;
  #worker: Worker | undefined;

  constructor(options: ConsumerOptions) {
    this.#options = options;
    options.spool.handle(options.queue, noop);
  }

  async start(): Promise<void> {
    this.#worker = await this.#options.spool.work({ queues: [this.#options.queue], concurrency: this.#options.concurrency });
  }

  readonly pollMs = 1;

  failure(): undefined {
    return undefined;
  }

  async stop(options: { graceMs?: number } = {}): Promise<null> {
    await this.#worker?.stop(options);
    this.#worker = undefined;
    return null;
  }
}

/** Opening the store (and checking its migrations) in each child. */
const READY_TIMEOUT_MS = 60_000;
/** Beyond the shutdown grace: closing the store and exiting. */
const STOP_SLACK_MS = 15_000;
const DEFAULT_GRACE_MS = 25_000;

class WorkerProcesses implements Consumers {
  readonly #children: Child[];
  readonly #killAll = (): void => {
    for (const c of this.#children) c.kill();
  };
  #stopped = false;

  private constructor(children: Child[]) {
    this.#children = children;
    // A synchronous 'exit' handler can still signal: the children go with the bench, whatever ends it.
    process.on('exit', this.#killAll);
  }

  static async fork(options: ConsumerOptions): Promise<WorkerProcesses> {
    const { module, execArgv } = childModule();
    const config: WorkerProcessConfig = { url: options.location, queue: options.queue, concurrency: options.concurrency };
    const children: Child[] = [];
    const pool = new WorkerProcesses(children);
    try {
      for (let i = 1; i <= options.processes; i++) children.push(new Child(i, module, execArgv, config));
      await Promise.all(children.map((c) => c.next('ready', READY_TIMEOUT_MS, 'to open the store')));
    } catch (error) {
      pool.#release();
      throw error;
    }
    options.progress(`${options.processes} worker processes ready (pids ${children.map((c) => c.pid).join(', ')})`);
    return pool;
  }

  async start(): Promise<void> {
    for (const c of this.#children) c.send({ type: 'go' });
  }

  /** The bench process polls less often: at 1 ms it would take much of a core away from the children. */
  readonly pollMs = 5;

  failure(): Error | undefined {
    for (const c of this.#children) if (c.failure) return c.failure;
    return undefined;
  }

  async stop(options: { graceMs?: number } = {}): Promise<readonly number[]> {
    if (this.#stopped) return [];
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    try {
      const failure = this.failure();
      if (failure) throw failure;
      for (const c of this.#children) c.send({ type: 'stop', graceMs });
      const stopped = await Promise.all(this.#children.map((c) => c.next('stopped', graceMs + STOP_SLACK_MS, 'to stop')));
      await Promise.all(this.#children.map((c) => c.exited(STOP_SLACK_MS)));
      return stopped.map((m) => m.handled);
    } finally {
      this.#release();
    }
  }

  /** Kill whatever still runs (nothing, after a clean stop) and forget the exit hook. */
  #release(): void {
    this.#stopped = true;
    this.#killAll();
    process.off('exit', this.#killAll);
  }
}

/** The child module next to this one: `.ts` under tsx (from src/), `.js` from dist/. */
function childModule(): { module: string; execArgv: string[] } {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const module = fileURLToPath(new URL(`./worker-process${ext}`, import.meta.url));
  const needsTsx = ext === '.ts' && !process.execArgv.some((a) => a.includes('tsx'));
  return { module, execArgv: needsTsx ? [...process.execArgv, '--import', 'tsx'] : process.execArgv };
}

type Reply<T extends FromWorkerProcess['type']> = Extract<FromWorkerProcess, { type: T }>;

/** One forked worker process: its messages, its failure (an error message or an early exit), bounded waits. */
class Child {
  readonly #name: string;
  readonly #process: ChildProcess;
  readonly #received = new Map<string, FromWorkerProcess>();
  readonly #waiting = new Map<string, (m: FromWorkerProcess) => void>();
  readonly #failed = new Set<(e: Error) => void>();
  #failure: Error | undefined;
  readonly #exit: Promise<void>;
  #stopping = false;

  constructor(index: number, module: string, execArgv: string[], config: WorkerProcessConfig) {
    // stdout is ignored (it would corrupt --json); stderr is shared, so a crash's trace is seen.
    this.#process = fork(module, [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.#name = `worker process ${index} (pid ${this.#process.pid ?? '?'})`;
    this.#process.on('message', (m: FromWorkerProcess) => {
      if (m.type === 'error') return this.#fail(new Error(`${this.#name}: ${m.message}`));
      const resolve = this.#waiting.get(m.type);
      this.#waiting.delete(m.type);
      if (resolve) resolve(m);
      else this.#received.set(m.type, m);
    });
    this.#process.on('error', (e) => this.#fail(new Error(`${this.#name}: ${e.message}`)));
    this.#exit = new Promise((resolve) => {
      this.#process.once('exit', (code, signal) => {
        if (!this.#stopping || code !== 0) this.#fail(new Error(`${this.#name} exited (${signal ?? `code ${code}`}) before the bench was done with it`));
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  send(message: ToWorkerProcess): void {
    if (this.#failure) throw this.#failure;
    if (message.type === 'stop') this.#stopping = true;
    this.#process.send(message);
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  /** The next message of `type`; fails on the child's failure or after `timeoutMs`. */
  next<T extends FromWorkerProcess['type']>(type: T, timeoutMs: number, what: string): Promise<Reply<T>> {
    const early = this.#received.get(type);
    if (early) {
      this.#received.delete(type);
      return Promise.resolve(early as Reply<T>);
    }
    return this.#bounded(timeoutMs, `${this.#name} took more than ${timeoutMs / 1000} s ${what}`, (resolve) => {
      this.#waiting.set(type, resolve as (m: FromWorkerProcess) => void);
    });
  }

  /** Resolves once the process has exited (0 after a stop); fails after `timeoutMs`. */
  exited(timeoutMs: number): Promise<void> {
    return this.#bounded(timeoutMs, `${this.#name} did not exit within ${timeoutMs / 1000} s of stopping`, (resolve) => {
      void this.#exit.then(() => resolve());
    });
  }

  kill(): void {
    if (this.#process.exitCode === null && this.#process.signalCode === null) this.#process.kill('SIGKILL');
  }

  #bounded<T>(timeoutMs: number, timeoutMessage: string, wait: (resolve: (value: T) => void) => void): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(timeoutMessage)), timeoutMs);
      const done = (error: Error | undefined, value?: T): void => {
        clearTimeout(timer);
        this.#failed.delete(onFailure);
        if (error) reject(error);
        else resolve(value as T);
      };
      const onFailure = (e: Error): void => done(e);
      this.#failed.add(onFailure);
      wait((value) => done(undefined, value));
    });
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const f of [...this.#failed]) f(error);
  }
}
