/**
 * What every /v1 route declares in its Fastify `config`: the scope a caller needs and which queue the
 * request touches (a path parameter, a query parameter, the queue of a job, a topic's queues, or a list
 * that filters itself). The auth plugin reads `request.routeOptions.config` in an onRequest hook, so it
 * is added without touching a route; app.ts refuses to register a /v1 route without a scope.
 */
export type Scope = 'publish' | 'consume' | 'read' | 'admin';

export interface RouteAccess {
  readonly scope: Scope;
  /** The path parameter holding the queue name the scope's glob is matched against. */
  readonly queueParam?: 'queue';
  /** The querystring parameter naming the queue (search); absent from the request → every queue. */
  readonly queueQuery?: 'queue';
  /** The path parameter holding a job id: the job's queue is the one touched. */
  readonly jobParam?: 'id';
  /** The path parameter holding a topic: its queues are the ones touched. */
  readonly topicParam?: 'topic';
  /** A list that filters its own output by what the caller may read. */
  readonly queueFilter?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: Scope;
    queueParam?: 'queue';
    queueQuery?: 'queue';
    jobParam?: 'id';
    topicParam?: 'topic';
    queueFilter?: boolean;
  }
}

export const access = {
  publish: { scope: 'publish', queueParam: 'queue' },
  readQueue: { scope: 'read', queueParam: 'queue' },
  readQueues: { scope: 'read', queueFilter: true },
  readSearch: { scope: 'read', queueQuery: 'queue' },
  readJob: { scope: 'read', jobParam: 'id' },
  consumeQueue: { scope: 'consume', queueParam: 'queue' },
  consumeJob: { scope: 'consume', jobParam: 'id' },
  adminQueue: { scope: 'admin', queueParam: 'queue' },
  adminJob: { scope: 'admin', jobParam: 'id' },
  admin: { scope: 'admin' },
} as const satisfies Record<string, RouteAccess>;
