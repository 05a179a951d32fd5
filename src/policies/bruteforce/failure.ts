import { ConfigIssueError } from '../../config/errors.ts';
import type { ProxiedResponse } from '../../pipeline/types.ts';
import { jsonBodyOf } from '../response/json.ts';
import type { FailureBodyRule, LoginConfig } from './schema.ts';

/** Longest string a `matches` rule is run on: an upstream message, never a document. */
const MAX_MATCHED_CHARS = 1024;

/** A login route's compiled failure condition. */
export interface FailureCondition {
  /** Whether the upstream body must be buffered to judge (some body rule). */
  readonly needsBody: boolean;
  /** Whether this upstream answer is a failed login. */
  isFailure(response: ProxiedResponse): boolean;
  /** Whether a response with this declared status (`200`, `4XX`, `default`) could ever be judged a failure. */
  canMatch(declared: string): boolean;
}

type Test = (value: unknown) => boolean;

/**
 * Compiles `login.failure`: a status in `status`, or any body rule holding on the JSON body (for logins that answer
 * failures with 200 and a message). Bodies are decoded first (Content-Encoding); a non-empty body a rule applies to
 * that is not readable JSON counts as a failure (fail closed).
 * @throws ConfigIssueError naming `at` on a regular expression that does not compile.
 */
export function compileFailureCondition(login: LoginConfig, at: string): FailureCondition {
  const statuses = new Set<number>(login.failure.status);
  const rules = (login.failure.body ?? []).map((rule, i) => compileRule(rule, `${at}.failure.body[${i}]`));
  return {
    needsBody: rules.length > 0,
    isFailure(response) {
      if (statuses.has(response.status)) return true;
      const applicable = rules.filter((rule) => rule.applies(response.status));
      if (applicable.length === 0) return false;
      // Decoded like every response check (gzip/br/deflate undone): the client chooses the encoding. A non-empty
      // body that cannot be judged — another media type it negotiated, corrupt, over the cap — is a failure, or a
      // client could make every guess uncountable by asking for XML.
      const body = jsonBodyOf(response);
      if (!body.ok) return response.body !== undefined && response.body.length > 0;
      return applicable.some((rule) => rule.test(valueAt(body.value, rule.pointer)));
    },
    canMatch(declared) {
      const can = (status: number) => statuses.has(status) || rules.some((r) => r.applies(status));
      if (declared === 'default') return statuses.size > 0 || rules.length > 0;
      const range = /^([1-5])XX$/i.exec(declared);
      if (range) {
        const base = Number(range[1]) * 100;
        for (let s = base; s < base + 100; s++) if (can(s)) return true;
        return false;
      }
      return can(Number(declared));
    },
  };
}

interface CompiledRule {
  readonly pointer: readonly string[];
  applies(status: number): boolean;
  readonly test: Test;
}

function compileRule(rule: FailureBodyRule, at: string): CompiledRule {
  const statuses = rule.status ? new Set(rule.status) : undefined;
  const tests = (['equals', 'matches', 'present'] as const).filter((k) => rule[k] !== undefined);
  if (tests.length !== 1) throw new ConfigIssueError(at, `set exactly one of equals, matches or present (found ${tests.length === 0 ? 'none' : tests.join(', ')})`);
  let test: Test;
  if (rule.matches !== undefined) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(rule.matches, 'u');
    } catch (error) {
      throw new ConfigIssueError(`${at}.matches`, `not a valid regular expression (${(error as Error).message})`, undefined, { cause: error });
    }
    test = (value) => typeof value === 'string' && pattern.test(value.slice(0, MAX_MATCHED_CHARS));
  } else if (rule.equals !== undefined) {
    const expected = rule.equals;
    test = (value) => value === expected;
  } else {
    test = (value) => value !== undefined;
  }
  return { pointer: parsePointer(rule.pointer), applies: (status) => status < 500 && (statuses === undefined || statuses.has(status)), test };
}

/** RFC 6901: `/a/b~1c` → `['a', 'b/c']`. */
function parsePointer(pointer: string): string[] {
  return pointer.split('/').slice(1).map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function valueAt(document: unknown, pointer: readonly string[]): unknown {
  let value = document;
  for (const token of pointer) {
    if (Array.isArray(value)) {
      if (!/^(0|[1-9][0-9]{0,8})$/.test(token)) return undefined;
      value = value[Number(token)];
    } else if (value !== null && typeof value === 'object' && Object.hasOwn(value, token)) {
      value = (value as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return value;
}
