/** The contract between the planner, the probe modules and the runner. */
import type { LoadedSpec, SpecOperation } from '../openapi/load.ts';
import { ruleOf } from './rules.ts';
import type { Profile, ScanSession } from './session.ts';
import type { Evidence, Finding, Severity } from './types.ts';

/** One planned probe: what `--dry-run` lists and what a module then executes. */
export interface PlannedProbe {
  /** The rule it can report (or `discovery` for the learning phase). */
  readonly rule: string;
  readonly operationId?: string;
  /** `METHOD /path` it sends to. */
  readonly endpoint: string;
  /** The identity it sends as, if any. */
  readonly identity?: string;
  /** The identity whose objects it goes after (BOLA probes). */
  readonly victim?: string;
  readonly description: string;
  /**
   * Whether it may change or delete data that is not the scan identity's own, or repeats a business action
   * (a flow on a non-GET operation): only with `--profile full`.
   */
  readonly destructive: boolean;
  /** Upper bound of the requests it sends. */
  readonly maxRequests: number;
}

/** What planning may look at: no credentials, no network. */
export interface PlanContext {
  readonly spec: LoadedSpec;
  readonly identities: readonly { readonly name: string; readonly role: string | undefined }[];
  readonly profile: Profile;
  /** The target, when known (probes that only apply to https:// targets plan nothing for others). */
  readonly target?: URL;
}

export interface ProbeModule {
  readonly name: string;
  plan(context: PlanContext): PlannedProbe[];
  /** Executes this module's planned probes (those its `plan` returned and the profile allows). */
  run(session: ScanSession, planned: readonly PlannedProbe[], report: (finding: Finding) => void): Promise<void>;
}

export const endpointOf = (op: SpecOperation): string => `${op.method} ${op.path}`;

/** A finding for `rule` with the rule's category, severity, title and fix. */
export function findingOf(rule: string, at: { operation?: SpecOperation; endpoint?: string; key?: string; detail: string; evidence: readonly Evidence[]; severity?: Severity; fix?: string }): Finding {
  const r = ruleOf(rule);
  const endpoint = at.endpoint ?? (at.operation ? endpointOf(at.operation) : '');
  const where = at.operation?.operationId ?? endpoint;
  return {
    id: [rule, where, at.key].filter((p) => p !== undefined && p !== '').join(':'),
    rule,
    category: r.category,
    severity: at.severity ?? r.severity,
    title: r.title,
    detail: at.detail,
    ...(at.operation ? { operation: at.operation.operationId } : {}),
    endpoint,
    evidence: at.evidence,
    fix: at.fix ?? r.fix,
  };
}
