import { createLineWriter, type Logger } from '../log.ts';
import { requestSummary, type RequestContext, type RecordSink } from '../pipeline/types.ts';

/**
 * One JSON line per request (stage 13). Logs the route template, never the raw path or query (they can carry
 * tokens and personal data), and no header values. Written by a line writer (log.ts), not through pino's generic
 * serialiser: the line's fields are fixed and flat.
 */
export function createAccessLog(logger: Logger): RecordSink {
  const write = createLineWriter(logger, { log: 'access' }, 'request');
  return {
    record(ctx: RequestContext, status: number): void {
      const latencyMs = Number(process.hrtime.bigint() - ctx.startedAt) / 1e6;
      write({
        ...requestSummary(ctx, status),
        latencyMs: Math.round(latencyMs * 1000) / 1000,
        upstreamMs: ctx.upstreamStatus === undefined ? undefined : Math.round(Number(ctx.upstreamNs) / 1000) / 1000,
        clientIp: ctx.clientIp,
        consumer: ctx.identity?.consumer ?? ctx.identity?.subject,
        authMethod: ctx.identity?.method,
        http: ctx.req.httpVersion,
      });
    },
  };
}
