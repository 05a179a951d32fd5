import type { OpenAPIV3 } from 'openapi-types';
import type { PolicyBuildInput, RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import { GatewayError, type ProblemFieldError } from '../../problem.ts';
import { parsedBody } from '../validate/body.ts';
import { bodyLimitsFor } from '../validate/index.ts';
import type { PasswordPolicyConfig } from './schema.ts';
import { isBreached, strengthScore } from './strength.ts';

const DEFAULTS: PasswordPolicyConfig = { min_length: 12, max_length: 256, min_score: 3, breached: true, user_fields: ['username', 'email', 'login', 'name', 'displayName'] };
const MAX_DEPTH = 8;

/** A marked field: its path from the body root. */
type FieldPath = readonly string[];

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
  const config = { ...DEFAULTS, ...input.api.password_policy };
  const limits = bodyLimitsFor(input.api, input.maxBodyBytes);
  return {
    name: 'password-policy',
    stage: 'validate',
    async run(ctx: RequestContext): Promise<void> {
      const body = await parsedBody(ctx, limits);
      if (body === undefined || body.kind === 'raw') return;
      const errors: ProblemFieldError[] = [];
      for (const path of fields) {
        const parent = valueAt(body.value, path.slice(0, -1));
        const password = parent !== null && typeof parent === 'object' ? (parent as Record<string, unknown>)[path.at(-1)!] : undefined;
        if (typeof password !== 'string') continue;
        const broken = await brokenRule(password, accountNames(body.value, parent, config.user_fields), config);
        if (broken) errors.push({ pointer: `body/${path.join('/')}`, message: broken });
      }
      if (errors.length > 0) throw new GatewayError('validation_failed', `password policy: ${errors.map((e) => e.message).join('; ')}`, { errors });
    },
  };
}

/** The first rule the password breaks, phrased for the client (never echoing it), or undefined. */
export async function brokenRule(password: string, names: readonly string[], config: PasswordPolicyConfig): Promise<string | undefined> {
  const length = [...password].length;
  if (length < config.min_length) return `is too short (at least ${config.min_length} characters)`;
  if (length > config.max_length) return `is too long (at most ${config.max_length} characters)`;
  const lower = password.toLowerCase();
  if (names.some((n) => n.toLowerCase() === lower)) return 'must not be the account\'s name or email';
  if (config.breached && isBreached(password)) return 'appears in lists of breached passwords';
  if ((await strengthScore(password, names)) < config.min_score) return `is too easy to guess (strength below ${config.min_score} of 4)`;
  return undefined;
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

function valueAt(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Paths of properties marked `x-rampart-password` in the operation's JSON and form body schemas (nested objects, allOf). */
export function markedFields(requestBody: OpenAPIV3.RequestBodyObject | undefined): FieldPath[] {
  const found = new Map<string, FieldPath>();
  const walk = (schema: unknown, path: string[], depth: number) => {
    if (depth > MAX_DEPTH || schema === null || typeof schema !== 'object') return;
    const s = schema as { properties?: Record<string, unknown>; allOf?: unknown[]; oneOf?: unknown[]; anyOf?: unknown[] };
    for (const [name, sub] of Object.entries(s.properties ?? {})) {
      const next = [...path, name];
      if (sub !== null && typeof sub === 'object' && (sub as Record<string, unknown>)['x-rampart-password'] === true) found.set(next.join('\0'), next);
      walk(sub, next, depth + 1);
    }
    for (const member of [...(s.allOf ?? []), ...(s.oneOf ?? []), ...(s.anyOf ?? [])]) walk(member, path, depth + 1);
  };
  for (const media of Object.values(requestBody?.content ?? {})) walk(media.schema, [], 0);
  return [...found.values()];
}
