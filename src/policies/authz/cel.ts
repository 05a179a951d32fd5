import { ConfigIssueError } from '../../config/errors.ts';
import { Environment } from '@marcbachmann/cel-js';

/**
 * Which variables a rule may use: request rules see `request`, `identity`, `now`; response rules add `response`;
 * list rules add `item`; owner-lookup rules add `object` (the looked-up object).
 */
export type RuleKind = 'request' | 'response' | 'item' | 'lookup';

const VARIABLES: Record<RuleKind, readonly string[]> = {
  request: ['request', 'identity', 'now'],
  response: ['request', 'identity', 'now', 'response'],
  item: ['request', 'identity', 'now', 'response', 'item'],
  lookup: ['request', 'identity', 'now', 'object'],
};

/** Structural limits on rules (parse time): a rule is a short policy expression, not a program. */
const LIMITS = { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 16 };

function environment(kind: RuleKind): Environment {
  let env = new Environment({ limits: LIMITS, enableOptionalTypes: true });
  for (const name of VARIABLES[kind]) env = env.registerVariable(name, name === 'now' ? 'google.protobuf.Timestamp' : 'map');
  return env;
}

const ENVIRONMENTS: Record<RuleKind, Environment> = {
  request: environment('request'),
  response: environment('response'),
  item: environment('item'),
  lookup: environment('lookup'),
};

/** A compiled CEL rule: true allows; false, a non-boolean or an evaluation error denies (fail closed). */
export interface CompiledRule {
  readonly source: string;
  /** Where the rule came from, for logs and `rampart check` (config path or spec extension). */
  readonly origin: string;
  /** Whether the rule reads `request.body` (the body is then buffered and parsed before it runs). */
  readonly readsBody: boolean;
  evaluate(variables: Record<string, unknown>): { allowed: boolean; error?: string };
}

/**
 * Parses and type-checks a CEL expression once, at start, with the `@marcbachmann/cel-js` implementation.
 * Unknown variables and non-boolean results are refused here.
 * @throws ConfigIssueError naming `origin` (e.g. `apis[0].rules.getOrder`) with the parser's message.
 */
export function compileRule(source: string, origin: string, kind: RuleKind): CompiledRule {
  const env = ENVIRONMENTS[kind];
  let program: ReturnType<Environment['parse']>;
  try {
    program = env.parse(source);
  } catch (error) {
    throw new ConfigIssueError(origin, `invalid CEL rule: ${firstLine(error)}`, undefined, { cause: error });
  }
  const checked = env.check(source);
  if (!checked.valid) throw new ConfigIssueError(origin, `invalid CEL rule: ${firstLine(checked.error)}`);
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw new ConfigIssueError(origin, `CEL rule must return a bool, not ${checked.type}`);
  return {
    source,
    origin,
    readsBody: /\brequest\s*\.\s*body\b/.test(source) || /\brequest\s*\[/.test(source),
    evaluate(variables) {
      try {
        const result = program(variables);
        return { allowed: result === true };
      } catch (error) {
        return { allowed: false, error: firstLine(error) };
      }
    },
  };
}

function firstLine(error: unknown): string {
  return String((error as Error | undefined)?.message ?? error).split('\n')[0]!.slice(0, 300);
}
