/** The planner: every probe module's plan for a spec and identities, in execution order, without any network. */
import { discovery } from './discover.ts';
import type { PlanContext, PlannedProbe, ProbeModule } from './probe.ts';
import { authn } from './probes/authn.ts';
import { bola } from './probes/bola.ts';
import { bolaBody } from './probes/bola-body.ts';
import { flows } from './probes/flows.ts';
import { functionLevel } from './probes/function-level.ts';
import { injection } from './probes/injection.ts';
import { login } from './probes/login.ts';
import { inventory } from './probes/inventory.ts';
import { misconfig } from './probes/misconfig.ts';
import { properties } from './probes/properties.ts';
import { bodies, resources } from './probes/resources.ts';
import { servers } from './probes/servers.ts';
import { ssrf } from './probes/ssrf.ts';
import { tls } from './probes/tls.ts';

/**
 * The modules in the order they run: discovery first (everything else uses what it learns); the failed logins and
 * forged-token probes late, because a gateway that blocks an IP after repeated authentication failures (as
 * Rampart's incident response does) would answer every later probe with that block; the rate-limit burst last for
 * the same reason. The business flows run before those (their throttle is what they judge).
 */
export const MODULES: readonly ProbeModule[] = [discovery, bola, bolaBody, functionLevel, properties, misconfig, tls, servers, injection, ssrf, inventory, bodies, flows, login, authn, resources];

export interface PlannedStep {
  readonly module: ProbeModule;
  readonly probes: readonly PlannedProbe[];
}

/** The plan: each module's probes, destructive ones only with the `full` profile. */
export function planScan(context: PlanContext, modules: readonly ProbeModule[] = MODULES): PlannedStep[] {
  return modules.map((module) => ({ module, probes: module.plan(context).filter((p) => context.profile === 'full' || !p.destructive) }));
}

/** Upper bound of the requests a plan sends (before `--max-requests` caps it). */
export function plannedRequests(steps: readonly PlannedStep[]): number {
  return steps.reduce((sum, step) => sum + step.probes.reduce((s, p) => s + p.maxRequests, 0), 0);
}
