import { summaryOf, type CompiledRoute, type RequestOutcome } from '../pipeline/types.ts';
import type { SecurityEvent } from '../bus/events.ts';
import type { AuditConfig } from './schema.ts';
import type { AuditEvent } from './log.ts';

/** Whether a route is a sensitive operation: listed in `audit.sensitive_operations` or `x-rampart-sensitive: true`. */
export function isSensitive(route: CompiledRoute | undefined, config: AuditConfig): boolean {
  if (!route) return false;
  return config.sensitive_operations.includes(route.operationId) || route.operation?.raw['x-rampart-sensitive'] === true;
}

/**
 * The audit record for a finished (or about to be answered) request, or undefined when the request is not
 * audited: every deny and error is; allowed requests per `audit.record_allowed` (authenticated ones = auth success,
 * or only sensitive operations). Fields carry the route template (never the raw path), ids, reason code and rule.
 */
export function requestAuditEvent(o: RequestOutcome, config: AuditConfig): AuditEvent | undefined {
  const sensitive = isSensitive(o.compiled, config);
  let type: string;
  if (o.decision === 'deny') type = 'request.denied';
  else if (o.decision === 'error') type = 'request.error';
  else if (sensitive && config.record_allowed !== 'none') type = 'request.sensitive';
  else if (o.identity && config.record_allowed === 'authenticated') type = 'auth.success';
  else return undefined;
  const id = o.identity;
  return {
    type,
    fields: {
      ...summaryOf(o),
      rule: o.notes.rule,
      waf: o.notes.waf,
      wafLeak: o.notes.wafLeak,
      authFailure: o.notes.authFailure?.reason.slice(0, 64),
      ip: o.clientIp,
      subject: id?.subject,
      consumer: id?.consumer,
      tenant: id?.tenant,
      authMethod: id?.method,
      keyId: id?.keyId,
      sensitive: sensitive || undefined,
    },
  };
}

/** The audit record for a security event from the bus (auth failure, lockout, key lifecycle, …). */
export function securityAuditEvent(event: SecurityEvent): AuditEvent {
  return {
    type: event.type,
    fields: {
      requestId: event.requestId,
      ip: event.ip,
      subject: event.subject,
      consumer: event.consumer,
      keyId: event.keyId,
      method: event.method,
      reason: event.reason,
      actor: event.actor,
      ...(event.fields ? { details: event.fields } : {}),
    },
  };
}
