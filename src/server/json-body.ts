/**
 * The only request body parser: `application/json` (any charset parameter, UTF-8 assumed). Besides parsing,
 * one iterative walk over the result refuses what would hurt later layers: nesting deeper than MAX_DEPTH
 * (JSON.stringify and the fingerprint recurse, and V8's JSON.parse happily builds millions of levels),
 * numbers JSON.parse turned into ±Infinity (`1e400`), and prototype-pollution keys (`__proto__`, or
 * `constructor.prototype`). Every refusal is a 400 problem. Registered by app.ts; other media types get 415.
 */
import type { FastifyRequest } from 'fastify';
import { HttpProblem } from './problem.js';

/** Deepest nesting of the whole body (the payload gets a couple of levels less). */
export const MAX_DEPTH = 64;

export function parseJsonBody(text: string): unknown {
  if (text.length === 0) return undefined; // an empty body is "no body" (POST /pause with a JSON content type)
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpProblem('malformed-json', `body is not valid JSON: ${(error as Error).message}`);
  }
  checkJsonValue(value);
  return value;
}

/** Iterative (no recursion: the input is hostile) check of depth, numbers and keys. */
export function checkJsonValue(root: unknown): void {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value: root, depth: 1, path: '' }];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop()!;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        throw new HttpProblem('invalid-request', `number out of range at ${path || '(root)'}`, { errors: [{ path, message: 'is out of range' }] });
      }
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_DEPTH) {
      throw new HttpProblem('invalid-request', `body is nested deeper than ${MAX_DEPTH} levels`, { errors: [{ path, message: `nesting deeper than ${MAX_DEPTH} levels` }] });
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push({ value: value[i], depth: depth + 1, path: `${path}/${i}` });
      continue;
    }
    for (const key of Object.keys(value)) {
      const child = (value as Record<string, unknown>)[key];
      const childPath = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (key === '__proto__' || (key === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype'))) {
        throw new HttpProblem('invalid-request', `forbidden key at ${childPath}`, { errors: [{ path: childPath, message: 'is a forbidden key (prototype pollution)' }] });
      }
      stack.push({ value: child, depth: depth + 1, path: childPath });
    }
  }
}

/**
 * preValidation for routes whose body may be left out (PUT a queue with every default, pause, resume,
 * cancel): no body is `{}`, then validated as strictly as any body (unknown fields are 400). Such routes mark
 * their schema `OPTIONAL_BODY`, which app.ts turns into `requestBody.required: false` in the document.
 */
export async function absentBodyIsEmpty(req: FastifyRequest): Promise<void> {
  if (req.body === undefined || req.body === null) req.body = {};
}

/** Route schema marker: the body may be left out (see absentBodyIsEmpty). */
export const OPTIONAL_BODY = { 'x-spool-optional-body': true } as const;
