/**
 * Topics (fan-out): a named list of declared queues. Publishing an event writes one job per queue of the
 * topic in one atomic batch: every job commits together or none does — one queue's `schema`/`contracts` or
 * job-type schema rejecting the payload, a queue that requires an idempotency key, an undeclared queue or a
 * reused key fails the whole event and nothing is written anywhere.
 *
 * Topics are configuration records (store kind `topic`, value `{"queues": [...]}`). Idempotency: the event's
 * key becomes one derived key per queue (`topic:<topic>:<key>`), so a replay returns the original jobs and the
 * event's keys never collide with keys of direct enqueues. Called by the facade (`spool.putTopic`, `publish`,
 * …), which the HTTP routes use; jobs are written only through the facade's `enqueueMany({atomic: true})`.
 */
import { createHash } from 'node:crypto';
import {
  IdempotencyKeyRequiredError,
  InvalidArgumentError,
  QueueNotFoundError,
  TopicNotFoundError,
  ValidationError,
  type FieldError,
} from '../core/errors.js';
import { isValidQueueName, type QueueConfig } from '../core/queue-config.js';
import type { JobReceipt, Store, StoredRecord } from '../storage/store.js';
import type { EnqueueItem, EnqueueOptions } from './enqueue.js';
import { checkQueueContract } from './queue-contracts.js';

/** At most this many queues per topic (one event is one atomic batch of that many jobs). */
export const MAX_TOPIC_QUEUES = 100;
const MAX_KEY_LENGTH = 256;

export interface TopicConfig {
  /** The queues every event is delivered to, each once; declared queues only. */
  readonly queues: readonly string[];
}

export interface Topic {
  readonly name: string;
  readonly queues: readonly string[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Job options of an event; `idempotencyKey` is the event's key (one key per queue is derived from it). */
export type PublishOptions = EnqueueOptions;

export interface PublishedJob extends JobReceipt {
  readonly replayed: boolean;
}

export interface PublishResult {
  readonly topic: string;
  /** One job per queue of the topic, in the topic's queue order. */
  readonly jobs: PublishedJob[];
}

/** What publishing needs of the facade (spool.ts): the engine's own checks and its atomic batch insert. */
export interface TopicPublisher {
  readonly store: Store;
  validateEnqueue(queue: string, payload: unknown, options?: EnqueueOptions): void;
  enqueueMany(items: readonly EnqueueItem[], options: { atomic: true }): Promise<PublishedJob[]>;
}

export function assertTopicName(name: string): void {
  if (!isValidQueueName(name)) throw new InvalidArgumentError(`invalid topic name "${String(name)}" (allowed: [A-Za-z0-9][A-Za-z0-9._-]{0,63})`);
}

/** The key one queue's job gets for an event key: prefixed per topic, hashed when it would be too long. */
export function topicIdempotencyKey(topic: string, key: string): string {
  const plain = `topic:${topic}:${key}`;
  return plain.length <= MAX_KEY_LENGTH ? plain : `topic:${topic}:#${createHash('sha256').update(key).digest('hex')}`;
}

function decode(record: StoredRecord): Topic {
  const value = JSON.parse(record.valueJson) as { queues?: unknown };
  const queues = Array.isArray(value.queues) ? value.queues.filter((q): q is string => typeof q === 'string') : [];
  return { name: record.name, queues, createdAt: record.createdAt, updatedAt: record.updatedAt };
}

/** Create or replace a topic. Its queues must be declared: an unknown one is a ValidationError at `/queues/<i>`. */
export async function putTopic(store: Store, name: string, config: TopicConfig): Promise<Topic & { created: boolean }> {
  assertTopicName(name);
  const queues: unknown = (config as { queues?: unknown } | null)?.queues;
  const errors: FieldError[] = [];
  if (!Array.isArray(queues) || queues.length === 0 || queues.length > MAX_TOPIC_QUEUES) {
    errors.push({ path: '/queues', message: `must be a list of 1–${MAX_TOPIC_QUEUES} queue names` });
  } else {
    const seen = new Set<string>();
    const declared = await Promise.all(queues.map((q) => (typeof q === 'string' && isValidQueueName(q) ? store.queueGet(q) : null)));
    queues.forEach((q, i) => {
      if (typeof q !== 'string' || !isValidQueueName(q)) errors.push({ path: `/queues/${i}`, message: 'is not a valid queue name' });
      else if (seen.has(q)) errors.push({ path: `/queues/${i}`, message: `repeats queue "${q}"` });
      else if (!declared[i]) errors.push({ path: `/queues/${i}`, message: `queue "${q}" is not declared` });
      if (typeof q === 'string') seen.add(q);
    });
  }
  if (errors.length > 0) throw new ValidationError(`topic "${name}" is invalid: ${errors[0]!.path} ${errors[0]!.message}`, errors);
  const { created, record } = await store.recordPut({ kind: 'topic', name, valueJson: JSON.stringify({ queues }) });
  return { ...decode(record!), created };
}

export async function getTopic(store: Store, name: string): Promise<Topic> {
  assertTopicName(name);
  const record = await store.recordGet({ kind: 'topic', name });
  if (!record) throw new TopicNotFoundError(name);
  return decode(record);
}

export async function listTopics(store: Store): Promise<Topic[]> {
  return (await store.recordList({ kind: 'topic' })).map(decode);
}

/** True when the topic existed. Jobs already published stay where they are. */
export async function deleteTopic(store: Store, name: string): Promise<boolean> {
  assertTopicName(name);
  return store.recordDelete({ kind: 'topic', name });
}

/**
 * Publish one event: one job per queue of the topic, all or nothing. Every check runs before the write, on
 * every queue, so a rejection names each queue that refused (`errors[].message` starts with the queue);
 * the atomic insert then only fails for reasons found in the store itself (a reused key, a queue that
 * disappeared meanwhile), and then fails whole too.
 */
export async function publish(publisher: TopicPublisher, name: string, payload: unknown, options: PublishOptions = {}): Promise<PublishResult> {
  const items = await checkEvent(publisher, name, payload, options);
  const jobs = await publisher.enqueueMany(items, { atomic: true });
  return { topic: name, jobs };
}

/**
 * Every check `publish` makes, without writing: the jobs the event would make (one per queue, in the topic's
 * order, with derived idempotency keys), or the error `publish` would throw. Dry runs use it.
 */
export async function checkEvent(publisher: TopicPublisher, name: string, payload: unknown, options: PublishOptions = {}): Promise<EnqueueItem[]> {
  const key = options.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH)) {
    throw new InvalidArgumentError(`idempotencyKey must be a string of 1–${MAX_KEY_LENGTH} characters`);
  }
  const topic = await getTopic(publisher.store, name);
  const records = await Promise.all(topic.queues.map((q) => publisher.store.queueGet(q)));
  const items: EnqueueItem[] = [];
  const errors: FieldError[] = [];
  topic.queues.forEach((queue, i) => {
    const record = records[i];
    if (!record) {
      const error = new QueueNotFoundError(queue);
      error.message = `topic "${name}" fans out to queue "${queue}", which is not declared (declare it, or PUT the topic without it)`;
      throw error;
    }
    if (record.config.requireIdempotencyKey && key === undefined) throw new IdempotencyKeyRequiredError(queue);
    const item = checkedItem(publisher, record.config, { ...options, queue, payload, ...(key !== undefined ? { idempotencyKey: topicIdempotencyKey(name, key) } : {}) });
    if (Array.isArray(item)) errors.push(...item);
    else items.push(item);
  });
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new ValidationError(`the event was rejected and no job was written: ${first.message} (at ${first.path})`, errors);
  }
  return items;
}

/**
 * One queue's job of an event after that queue's contract and the engine's own checks (job-type schema),
 * or the field errors (JSON Pointers under `/payload`, messages naming the queue). Other errors are thrown.
 */
function checkedItem(publisher: TopicPublisher, config: QueueConfig, item: EnqueueItem): EnqueueItem | FieldError[] {
  const { queue, payload, ...options } = item;
  const named = (errors: readonly FieldError[]) => errors.map((e) => ({ path: e.path, message: `queue "${queue}": ${e.message}` }));
  const contract = checkQueueContract(config, { type: options.type, version: options.version, payload });
  if (contract.errors.length > 0) return named(contract.errors);
  const checked: EnqueueOptions = contract.version !== undefined ? { ...options, version: contract.version } : options;
  try {
    publisher.validateEnqueue(queue, payload, checked);
  } catch (error) {
    if (error instanceof ValidationError) return named(error.errors);
    throw error;
  }
  return { ...checked, queue, payload };
}
