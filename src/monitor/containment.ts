import type { AdminActions } from '../admin/api/actions.ts';
import type { Counters } from '../counters/index.ts';
import type { InvalidationBus } from '../bus/invalidation.ts';
import type { TokenRevocations } from '../policies/authn-jwt/revocations.ts';
import type { Responders } from './responders.ts';

/** Actor of containment applied automatically (reverts carry the resolving admin's name). */
export const MONITOR_ACTOR = 'monitor';

export interface ContainmentDeps {
  /** Control-plane actions: key suspension and the admin events that record every change. */
  readonly actions: AdminActions;
  /** The invalidation bus (Redis pub/sub with `counters.kind: redis`): every instance applies each change. */
  readonly bus: InvalidationBus;
  /** The JWT revocation list the authenticators check (shared over the bus). */
  readonly revocations: TokenRevocations;
  readonly counters: Counters;
}

/**
 * The real containment responders of one gateway: suspend/reinstate an API key (control plane + bus), revoke/lift
 * a subject's JWTs issued before a time (revocation list + bus), tighten/relax a consumer's post-authentication
 * rate limits (counters + bus). Each change is an admin event (audited); this instance's tightenings follow the bus.
 */
export function createResponders(deps: ContainmentDeps): Required<Responders> {
  const { actions, bus, revocations, counters } = deps;
  bus.subscribe((message) => {
    if (!('tightenConsumer' in message)) return;
    if (message.factor === null) counters.tightened.relax(message.tightenConsumer);
    else counters.tightened.tighten(message.tightenConsumer, message.factor, message.until);
  });
  return {
    keys: {
      suspendKey: (keyId, reason) => actions.suspendKey(MONITOR_ACTOR, keyId, reason),
      reinstateKey: (keyId, actor) => actions.reinstateKey(actor ?? MONITOR_ACTOR, keyId),
    },
    tokens: {
      async revokeTokensBefore(subject, before, reason) {
        // iat has one-second resolution: round up so a token issued in the same second as the incident is covered.
        const seconds = Math.ceil(before / 1000);
        revocations.revokeSubject(subject, seconds);
        await actions.record(MONITOR_ACTOR, 'tokens.revoke', 'subject', subject, { issued_before: new Date(seconds * 1000).toISOString(), reason: reason.slice(0, 200) });
      },
      async unrevoke(subject, actor) {
        revocations.unrevokeSubject(subject);
        await actions.record(actor ?? MONITOR_ACTOR, 'tokens.unrevoke', 'subject', subject, {});
      },
    },
    rates: {
      async tighten(consumer, factor, until, reason) {
        await bus.publish({ tightenConsumer: consumer, factor, until });
        await actions.record(MONITOR_ACTOR, 'ratelimit.tighten', 'consumer', consumer, { factor, until: new Date(until).toISOString(), reason: reason.slice(0, 200) });
      },
      async relax(consumer, actor) {
        await bus.publish({ tightenConsumer: consumer, factor: null, until: 0 });
        await actions.record(actor ?? MONITOR_ACTOR, 'ratelimit.relax', 'consumer', consumer, {});
      },
    },
  };
}
