/**
 * Every HTTP exchange the suites make is checked against the OpenAPI document (docs/openapi.json, which
 * openapi.test.ts keeps equal to what the server generates and serves at /openapi.json), so the document and
 * the server cannot drift apart: the path template and method exist, the status is listed for the operation,
 * the content type is declared, the body validates against the declared schema (ajv, JSON Schema 2020-12 as
 * OpenAPI 3.1 uses it, `$ref`s resolved inside the document), and the headers that carry contract meaning
 * (Location, Retry-After, Idempotent-Replayed, Allow) are declared for that response — and any header the
 * document marks required is present.
 *
 * Answers given before a request reaches a route are documented once, under `components.responses`, and
 * checked from there: `NotFound` (a path outside the document), `MethodNotAllowed` (a method the path does
 * not have; with `Allow`), `Unauthorized` (an unknown /v1 path without a valid token) and
 * `HeaderFieldsTooLarge` (431, any request). The dashboard's static files (`/`, `/dashboard/…`: HTML, scripts
 * and styles, not the API) are the one part of the server outside the document, and are not checked.
 * Used by api-harness.ts and auth-harness.ts `call()`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

/** Response headers whose presence means something to a client: each must be declared where it is sent. */
export const CONTRACT_HEADERS = ['location', 'retry-after', 'idempotent-replayed', 'allow'];

/** Answers any request can get before routing: status → the `components.responses` entry that documents it. */
const BEFORE_ROUTING: Record<string, { status: number; when: 'unknown-path' | 'unknown-method' | 'any' }> = {
  NotFound: { status: 404, when: 'unknown-path' },
  Unauthorized: { status: 401, when: 'unknown-path' },
  MethodNotAllowed: { status: 405, when: 'unknown-method' },
  HeaderFieldsTooLarge: { status: 431, when: 'any' },
};

/** The dashboard's static files: served by the server, not part of the API document. */
const NOT_API = /^\/(?:dashboard\/.*)?$/;

export interface Exchange {
  readonly method: string;
  /** The request path, with or without its query string. */
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  /** The response body as text ('' for none; not read for event streams). */
  readonly text: string;
}

interface ResponseObject {
  description?: string;
  headers?: Record<string, { required?: boolean; schema?: unknown; $ref?: string }>;
  content?: Record<string, { schema?: unknown }>;
  $ref?: string;
}

interface Operation {
  responses: Record<string, ResponseObject>;
}

interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: { responses?: Record<string, ResponseObject> };
}

/** One JSON Pointer segment inside a URI fragment (`{queue}` and `/` escaped). */
const escape = (s: string) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));

export class OpenApiCheck {
  readonly #doc: Document;
  readonly #ajv: Ajv2020;
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #templates: Array<{ template: string; pattern: RegExp; literals: number }>;

  constructor(doc: object) {
    this.#doc = doc as Document;
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    (addFormats as unknown as (a: Ajv2020) => void)(this.#ajv);
    this.#ajv.addSchema({ ...(doc as Record<string, unknown>), $id: 'urn:spool:openapi' } as object);
    this.#templates = Object.keys(this.#doc.paths).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      literals: template.split('/').filter((s) => s !== '' && !s.startsWith('{')).length,
    }));
  }

  /** The document's path template for a request path (the most literal match), or null. */
  templateOf(path: string): string | null {
    const bare = path.split('?')[0] ?? '';
    const matches = this.#templates.filter((t) => t.pattern.test(bare)).sort((a, b) => b.literals - a.literals);
    return matches[0]?.template ?? null;
  }

  /** Everything about this exchange the document does not allow; empty when it conforms. */
  problems(x: Exchange): string[] {
    if (NOT_API.test(x.path.split('?')[0] ?? '')) return [];
    const method = x.method.toLowerCase();
    const status = String(x.status);
    const template = this.templateOf(x.path);
    const item = template === null ? null : this.#doc.paths[template]!;
    const op = item?.[method];
    let response: ResponseObject | undefined;
    let where: string;
    if (op && op.responses[status]) {
      response = op.responses[status];
      where = `#/paths/${escape(template!)}/${method}/responses/${status}`;
    } else if (op && op.responses['default']) {
      response = op.responses['default'];
      where = `#/paths/${escape(template!)}/${method}/responses/default`;
    } else {
      const when = !item ? 'unknown-path' : !op ? 'unknown-method' : 'known';
      const fallback = Object.entries(BEFORE_ROUTING).find(([, r]) => r.status === x.status && (r.when === when || r.when === 'any'));
      const component = fallback ? this.#doc.components?.responses?.[fallback[0]] : undefined;
      if (!fallback || !component) {
        if (!item) return [`the path ${x.path.split('?')[0]} is not in the document (and ${status} is not a documented answer for unknown paths)`];
        if (!op) return [`${x.method.toUpperCase()} is not an operation of ${template} (and ${status} is not a documented answer for other methods)`];
        return [`status ${status} is not documented for ${x.method.toUpperCase()} ${template} (documented: ${Object.keys(op.responses).join(', ')})`];
      }
      response = component;
      where = `#/components/responses/${fallback[0]}`;
    }
    return this.#checkResponse(x, response, where);
  }

  /** Throw with every problem, naming the exchange, when it does not conform. */
  assert(x: Exchange): void {
    const found = this.problems(x);
    if (found.length > 0) {
      throw new Error(`OpenAPI: ${x.method.toUpperCase()} ${x.path} answered ${x.status}, which the document does not allow:\n  - ${found.join('\n  - ')}`);
    }
  }

  #checkResponse(x: Exchange, response: ResponseObject, where: string): string[] {
    const out: string[] = [];
    const declared = Object.fromEntries(Object.entries(response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), { ...v, name: k }]));
    for (const name of CONTRACT_HEADERS) {
      const value = x.headers.get(name);
      if (value !== null && !declared[name]) out.push(`header ${name} is sent but not declared (${where}/headers)`);
    }
    for (const [name, h] of Object.entries(declared)) {
      const value = x.headers.get(name);
      if (value === null) {
        if (h.required) out.push(`required header ${name} is missing`);
        continue;
      }
      if (h.schema !== undefined) {
        const check = this.#validator(`${where}/headers/${escape(h.name)}/schema`);
        if (!check(value)) out.push(`header ${name}: ${JSON.stringify(value)} ${this.#ajv.errorsText(check.errors)}`);
      }
    }

    const contentType = (x.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const content = response.content ?? {};
    if (Object.keys(content).length === 0) {
      if (x.text.length > 0) out.push(`a body (${contentType || 'no content type'}) is sent where none is documented`);
      return out;
    }
    const media = Object.keys(content).find((m) => m.toLowerCase() === contentType);
    if (media === undefined) {
      out.push(`content type ${contentType || '(none)'} is not declared (declared: ${Object.keys(content).join(', ')})`);
      return out;
    }
    if (!/json/.test(media) || content[media]!.schema === undefined) return out; // event streams, text
    let body: unknown;
    try {
      body = JSON.parse(x.text);
    } catch {
      out.push(`the body is not JSON: ${x.text.slice(0, 200)}`);
      return out;
    }
    const check = this.#validator(`${where}/content/${escape(media)}/schema`);
    if (!check(body)) {
      const errors = (check.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
      out.push(`the body breaks the schema at ${where}: ${errors.join('; ')}`);
    }
    return out;
  }

  #validator(pointer: string): ValidateFunction {
    let fn = this.#compiled.get(pointer);
    if (!fn) {
      fn = this.#ajv.compile({ $ref: `urn:spool:openapi${pointer}` });
      this.#compiled.set(pointer, fn);
    }
    return fn;
  }
}

let shared: OpenApiCheck | undefined;

/** The check over the committed docs/openapi.json (loaded once per test file). */
export function documentCheck(): OpenApiCheck {
  shared ??= new OpenApiCheck(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'openapi.json'), 'utf8')) as object);
  return shared;
}
