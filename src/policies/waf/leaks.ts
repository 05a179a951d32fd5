import type { PolicyBuildInput, ProxiedResponse, RequestContext, ResponsePolicy } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { mediaTypeOf } from '../../http/media.ts';
import { decodeBody, headerValue } from '../response/json.ts';
import { detectLeak, type Leak } from './leak-rules.ts';

/** Most body bytes searched for leaks (the start of a page holds the error; bounds the cost of huge bodies). */
export const MAX_LEAK_SCAN_BYTES = 1024 * 1024;

/**
 * Outbound leak detection (response stage `contract`, after the contract policy minimised what it could) on the
 * responses the contract does not fully describe: every response of a passthrough route, and on spec routes those
 * whose status and media type have no JSON schema (or all of them when `response.mode` is not `enforce`, since an
 * undeclared answer then passes). A body carrying a SQL error, a stack trace, a framework debug page, a private key
 * or a cloud credential is replaced by a 502 `upstream_invalid_response` in `block` mode; `monitor` only logs. Every
 * leak is a `waf.leak` security event (kind and rule, never the text). Runs in the `contract` stage because that is
 * where response bodies are judged against what the API may say; it needs the buffered body, and only routes where
 * it applies get it. Returns undefined when `waf.enabled` or `waf.leaks` is off or every response is described.
 */
export function createLeakPolicy(input: PolicyBuildInput): ResponsePolicy | undefined {
  const config = input.api.waf;
  if (!config.enabled || !config.leaks) return undefined;
  const described = describedResponses(input);
  if (described === 'all') return undefined;
  const monitor = config.mode === 'monitor';
  const { logger, events } = input.services;
  const api = input.api.name;
  const operationId = input.operationId;
  return {
    name: 'waf-leaks',
    stage: 'contract',
    needsBody: true,
    run(ctx: RequestContext, response: ProxiedResponse): void {
      if (!response.body || response.body.length === 0) return;
      const type = mediaTypeOf(headerValue(response.headers['content-type'])) ?? '';
      if (described.has(`${response.status} ${type}`)) return;
      if (!decodeBody(response).ok) return;
      const leak = detectLeak(response.body.subarray(0, MAX_LEAK_SCAN_BYTES));
      if (!leak) return;
      report(ctx, leak);
    },
  };

  function report(ctx: RequestContext, leak: Leak): void {
    const fields = { api, operation: operationId, family: leak.kind, rule: leak.rule, field: 'response/body', mode: config.mode };
    ctx.notes.wafLeak = { kind: leak.kind, rule: leak.rule };
    logger.warn({ requestId: ctx.id, ...fields }, monitor ? 'upstream response leaks internals (monitor mode)' : 'upstream response leaks internals: replaced');
    events?.emit({ type: 'waf.leak', requestId: ctx.id, ip: ctx.clientIp, reason: leak.rule, fields });
    if (!monitor) throw new GatewayError('upstream_invalid_response', `response leak: ${leak.kind}/${leak.rule}`);
  }
}

/**
 * `status mediaType` pairs whose body the contract policy validates against a JSON schema (and so cannot carry
 * free text it does not declare... beyond declared strings), or `'all'` when nothing else can reach the client.
 */
function describedResponses(input: PolicyBuildInput): Set<string> | 'all' {
  const { operation, api } = input;
  if (!operation || api.response.mode !== 'enforce') return new Set();
  const described = new Set<string>();
  let everything = true;
  for (const [status, response] of Object.entries(operation.responses)) {
    const content = Object.entries(response.content ?? {});
    for (const [type, media] of content) {
      const lower = type.toLowerCase();
      const json = lower === 'application/json' || lower.endsWith('+json');
      if (json && media.schema && /^[1-5][0-9][0-9]$/.test(status)) described.add(`${status} ${lower}`);
      else everything = false;
    }
    // Ranges (`2XX`, `default`) match many statuses: those are scanned.
    if (!/^[1-5][0-9][0-9]$/.test(status) && content.length > 0) everything = false;
  }
  return everything ? 'all' : described;
}
