import type { ErrorObject } from 'ajv';
import type { ProblemFieldError } from '../../problem.ts';
import { READ_ONLY_MARK } from '../../openapi/schemas.ts';

/** Segments echoed in pointers must look like identifiers; anything else (attacker-chosen keys) is replaced. */
const SAFE_SEGMENT = /^[A-Za-z0-9_.$@-]{1,64}$/;

function safeSegment(segment: string): string {
  return SAFE_SEGMENT.test(segment) ? segment : '*';
}

/** `/a/b~1c/0` → `a/*\/0`-style pointer with every segment vetted. */
function safePath(instancePath: string): string {
  if (instancePath === '') return '';
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => safeSegment(s.replace(/~1/g, '/').replace(/~0/g, '~')))
    .map((s) => `/${s}`)
    .join('');
}

/**
 * Converts Ajv errors into problem field errors: `pointer` is `<location><instancePath>` (e.g. `body/quantity`,
 * `query/limit`), `message` is generic. Ajv's messages name only schema facts (types, limits, patterns), never the
 * input value; property names taken from the input are shown only if they look like identifiers.
 */
export function toFieldErrors(location: string, errors: readonly ErrorObject[] | null | undefined, max = 10): ProblemFieldError[] {
  const out: ProblemFieldError[] = [];
  for (const error of errors ?? []) {
    if (out.length >= max) break;
    let pointer = location + safePath(error.instancePath);
    let message: string;
    switch (error.keyword) {
      case READ_ONLY_MARK:
        message = 'is read-only and must not be sent';
        break;
      case 'required':
        pointer += `/${safeSegment(String((error.params as { missingProperty: string }).missingProperty))}`;
        message = 'is required';
        break;
      case 'additionalProperties':
        pointer += `/${safeSegment(String((error.params as { additionalProperty: string }).additionalProperty))}`;
        message = 'is not a declared property';
        break;
      case 'unevaluatedProperties':
        pointer += `/${safeSegment(String((error.params as { unevaluatedProperty: string }).unevaluatedProperty))}`;
        message = 'is not a declared property';
        break;
      default:
        message = error.message ?? 'is invalid';
    }
    out.push({ pointer, message });
  }
  return out;
}
