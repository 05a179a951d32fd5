import type { OpenAPIV3 } from 'openapi-types';
import type { PolicyBuildInput, RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import { GatewayError, type ProblemFieldError } from '../../problem.ts';
import { parsedBody } from '../validate/body.ts';
import { bodyLimitsFor } from '../validate/index.ts';
import type { PasswordPolicyConfig } from './schema.ts';
import { breachedList, isBreached, strengthScore } from './strength.ts';

const MAX_DEPTH = 8;

/** A marked field: its path from the body root; `ITEMS` steps into every element of an array (or map value). */
type FieldPath = readonly string[];
const ITEMS = '\0*';

/**
 * Password policy on the wire for one operation: every request body field its schema marks `x-rampart-password:
 * true` is checked before the upstream sees it — length (code points), equal to none of the account's own fields
 * (`user_fields`, case-insensitive), not in the shipped breached-password list, and a zxcvbn strength score of at
 * least `min_score` (the account's fields as user inputs). A failure is a 400 naming the field and the rule, never
 * the value. Runs after validation (the body is the one every stage parsed). Undefined for operations without a
 * marked field.
 */
export function createPasswordPolicy(input: PolicyBuildInput): RequestPolicy | undefined {
  const fields = markedFields(input.operation?.requestBody);
  if (fields.length === 0) return undefined;
  const config: PasswordPolicyConfig = input.api.password_policy;
  if (config.breached) void breachedList();
  const limits = bodyLimitsFor(input.api, input.maxBodyBytes);
  return {
    name: 'password-policy',
    stage: 'validate',
    async run(ctx: RequestContext): Promise<void> {
      const body = await parsedBody(ctx, limits);
      if (body === undefined || body.kind === 'raw') return;
      const errors: ProblemFieldError[] = [];
      for (const path of fields) {
        for (const { pointer, parent, value } of valuesAt(body.value, path)) {
          if (typeof value !== 'string') continue;
          const broken = await brokenRule(value, accountNames(body.value, parent, config.user_fields), config, ctx.clientIp);
          if (broken) errors.push({ pointer: `body/${pointer.join('/')}`, message: broken });
        }
      }
      if (errors.length > 0) throw new GatewayError('validation_failed', `password policy: ${errors.map((e) => e.message).join('; ')}`, { errors });
    },
  };
}

/** The first rule the password breaks, phrased for the client (never echoing it), or undefined. */
export async function brokenRule(raw: string, rawNames: readonly string[], config: PasswordPolicyConfig, client = ''): Promise<string | undefined> {
  // Judged as NFKC (NIST SP 800-63B §5.1.1.2): a full-width "ｐａｓｓｗｏｒｄ１２３４" is the breached
  // "password1234", and many upstreams normalise before hashing anyway.
  const password = raw.normalize('NFKC');
  const names = rawNames.map((n) => n.normalize('NFKC'));
  const length = [...password].length;
  if (length < config.min_length) return `is too short (at least ${config.min_length} characters)`;
  if (length > config.max_length) return `is too long (at most ${config.max_length} characters)`;
  const folded = fold(password);
  if (names.some((n) => fold(n) === folded)) return 'must not be the account\'s name or email';
  if (config.breached && (await isBreached(folded))) return 'appears in lists of breached passwords';
  if ((await strengthScore(password, names, client)) < config.min_score) return `is too easy to guess (strength below ${config.min_score} of 4)`;
  return undefined;
}

/** Case- and whitespace-insensitive form for comparisons with names and the breached list. */
function fold(value: string): string {
  return value.trim().toLowerCase();
}

/** String values of `fields` in the password's own object and at the top level (username beside a nested password). */
function accountNames(root: unknown, parent: unknown, fields: readonly string[]): string[] {
  const names = new Set<string>();
  for (const holder of [parent, root]) {
    if (holder === null || typeof holder !== 'object' || Array.isArray(holder)) continue;
    for (const field of fields) {
      const value = (holder as Record<string, unknown>)[field];
      if (typeof value === 'string' && value !== '' && value.length <= 256) {
        names.add(value);
        // An email's local part is a name too.
        const at = value.indexOf('@');
        if (at > 0) names.add(value.slice(0, at));
      }
    }
  }
  return [...names];
}

/** Every value at a field path (arrays and maps fanned out), with its JSON pointer and the object holding it. */
function valuesAt(root: unknown, path: FieldPath): { pointer: string[]; parent: unknown; value: unknown }[] {
  let level: { pointer: string[]; parent: unknown; value: unknown }[] = [{ pointer: [], parent: undefined, value: root }];
  for (const key of path) {
    const next: typeof level = [];
    for (const { pointer, value } of level) {
      if (value === null || typeof value !== 'object') continue;
      if (key === ITEMS) {
        const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
        for (const [k, v] of entries) next.push({ pointer: [...pointer, k], parent: value, value: v });
      } else if (Object.hasOwn(value, key)) {
        next.push({ pointer: [...pointer, key], parent: value, value: (value as Record<string, unknown>)[key] });
      }
    }
    level = next;
  }
  return level;
}

/** Paths of properties marked `x-rampart-password` in the operation's JSON and form body schemas (nested objects, allOf). */
export function markedFields(requestBody: OpenAPIV3.RequestBodyObject | undefined): FieldPath[] {
  const found = new Map<string, FieldPath>();
  const walk = (schema: unknown, path: string[], depth: number) => {
    if (depth > MAX_DEPTH || schema === null || typeof schema !== 'object') return;
    const s = schema as { properties?: Record<string, unknown>; allOf?: unknown[]; oneOf?: unknown[]; anyOf?: unknown[]; items?: unknown; prefixItems?: unknown[]; additionalProperties?: unknown };
    const mark = (sub: unknown, next: string[]) => {
      if (sub !== null && typeof sub === 'object' && (sub as Record<string, unknown>)['x-rampart-password'] === true) found.set(next.join('\0'), next);
      walk(sub, next, depth + 1);
    };
    for (const [name, sub] of Object.entries(s.properties ?? {})) mark(sub, [...path, name]);
    // Array elements and map values: `users[].password`, `{ "<id>": { password } }`.
    for (const sub of [s.items, ...(s.prefixItems ?? []), s.additionalProperties]) if (sub !== null && typeof sub === 'object') mark(sub, [...path, ITEMS]);
    for (const member of [...(s.allOf ?? []), ...(s.oneOf ?? []), ...(s.anyOf ?? [])]) walk(member, path, depth + 1);
  };
  for (const media of Object.values(requestBody?.content ?? {})) walk(media.schema, [], 0);
  return [...found.values()];
}

/** A field path as `rampart check` prints it (an array or map step prints as `*`). */
export function fieldLabel(path: FieldPath): string {
  return path.map((step) => (step === ITEMS ? '*' : step)).join('/');
}
