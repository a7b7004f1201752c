/**
 * What a handlers module sees when `spool work --url` loads it: the part of the facade a module uses to
 * register work — `defineJob`, `handle`, `declareQueue` (sent to the server as `PUT /v1/queues/{name}`) —
 * backed by the HTTP client instead of a store. Anything else a module calls on it fails with a clear
 * message. Also answers which queues to serve and which handler runs a leased job, like `Spool.work`.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { isValidQueueName, type QueueConfig } from '../core/queue-config.js';
import type { SpoolClient } from '../client/index.js';
import { JobTypeRegistry, type JobTypeDefinition } from '../engine/job-types.js';
import type { ResolvedHandler } from '../worker/executor.js';
import type { Handler } from '../worker/handler.js';

export class RemoteHost {
  readonly #client: SpoolClient;
  readonly #types = new JobTypeRegistry();
  readonly #queueHandlers = new Map<string, Handler>();
  /** The object handed to a module's default export `(spool) => …`. */
  readonly facade: object;

  constructor(client: SpoolClient) {
    this.#client = client;
    const methods: Record<string, unknown> = {
      defineJob: (def: JobTypeDefinition) => {
        if (!isValidQueueName(def.queue)) throw new InvalidArgumentError(`invalid queue name "${String(def.queue)}"`);
        this.#types.define(def);
        return {
          definition: def,
          enqueue: (payload: unknown, options: Record<string, unknown> = {}) => client.enqueue(def.queue, payload, { ...options, type: def.type }),
        };
      },
      handle: (queue: string, handler: Handler) => {
        if (!isValidQueueName(queue)) throw new InvalidArgumentError(`invalid queue name "${String(queue)}"`);
        this.#queueHandlers.set(queue, handler);
      },
      declareQueue: (name: string, config: QueueConfig = {}) => client.putQueue(name, config),
      enqueue: (queue: string, payload: unknown, options: Record<string, unknown> = {}) => client.enqueue(queue, payload, options),
    };
    this.facade = new Proxy(methods, {
      get(target, prop) {
        if (typeof prop !== 'string' || prop === 'then') return undefined;
        if (prop in target) return target[prop];
        throw new InvalidArgumentError(`spool.${prop} is not available to a handlers module in a remote worker (spool work --url); use --db to run it against a store`);
      },
    });
  }

  /**
   * The queues to serve when none are named: those of defined job types and of `handle()`, plus each handler
   * key that is not a defined type and is a valid queue name (the server says 404 if it is not a queue).
   */
  queuesFor(handlers: Readonly<Record<string, Handler>>): string[] {
    const queues = new Set([...this.#types.all().map((t) => t.queue), ...this.#queueHandlers.keys()]);
    for (const key of Object.keys(handlers)) {
      const def = this.#types.get(key);
      if (def) queues.add(def.queue);
      else if (isValidQueueName(key)) queues.add(key);
    }
    return [...queues];
  }

  /** Which handler runs a job: by type (module key, then the type's own), then by queue. */
  resolver(handlers: Readonly<Record<string, Handler>>): (job: { type: string | null; queue: string }) => ResolvedHandler | undefined {
    return (job) => {
      const def = job.type ? this.#types.get(job.type) : undefined;
      const handler = (job.type ? (handlers[job.type] ?? def?.handler) : undefined) ?? handlers[job.queue] ?? this.#queueHandlers.get(job.queue);
      if (!handler) return undefined;
      return def ? { handler, def } : { handler };
    };
  }

  get client(): SpoolClient {
    return this.#client;
  }
}
