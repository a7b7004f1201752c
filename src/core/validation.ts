/**
 * JSON Schema validation (Ajv, draft 2020-12 keywords that Ajv 8 supports by default) with errors reported
 * as JSON Pointers, so the same FieldError shape serves the library, the CLI and HTTP's 422 `errors`.
 * Validators are compiled once per schema object and cached.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ValidationError, type FieldError } from './errors.js';

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false, removeAdditional: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);

const cache = new WeakMap<object, ValidateFunction>();

export function compileSchema(schema: object): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    try {
      fn = ajv.compile(schema);
    } catch (error) {
      throw new ValidationError(`invalid JSON Schema: ${(error as Error).message}`, [{ path: '', message: (error as Error).message }]);
    }
    cache.set(schema, fn);
  }
  return fn;
}

/** Validate `value`; FieldError paths are prefixed with `prefix` (e.g. `/payload`). */
export function validate(schema: object, value: unknown, prefix = ''): FieldError[] {
  const fn = compileSchema(schema);
  if (fn(value)) return [];
  return (fn.errors ?? []).map((e) => toFieldError(e, prefix));
}

export function assertValid(schema: object, value: unknown, what: string, prefix = ''): void {
  const errors = validate(schema, value, prefix);
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new ValidationError(`${what} is invalid: ${first.path || '(root)'} ${first.message}`, errors);
  }
}

function toFieldError(e: ErrorObject, prefix: string): FieldError {
  let path = e.instancePath;
  if (e.keyword === 'required' && typeof e.params['missingProperty'] === 'string') {
    path += `/${escapePointer(e.params['missingProperty'])}`;
  } else if (e.keyword === 'additionalProperties' && typeof e.params['additionalProperty'] === 'string') {
    path += `/${escapePointer(e.params['additionalProperty'])}`;
    return { path: prefix + path, message: 'is not allowed' };
  }
  return { path: prefix + path, message: e.message ?? 'is invalid' };
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
