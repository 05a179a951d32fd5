import { createLineWriter, type Logger } from '../log.ts';
import { summaryOf, type RecordSink, type RequestOutcome } from '../pipeline/types.ts';

/**
 * One JSON line per request (stage 13). Logs the route template, never the raw path or query (they can carry
 * tokens and personal data), and no header values. Written by a line writer (log.ts), not through pino's generic
 * serialiser: the line's fields are fixed and flat.
 */
export function createAccessLog(logger: Logger): RecordSink {
  const write = createLineWriter(logger, { log: 'access' }, 'request');
  return {
    record(o: RequestOutcome): void {
      write({
        ...summaryOf(o),
        latencyMs: Math.round(Number(o.totalNs) / 1000) / 1000,
        upstreamMs: o.upstreamStatus === undefined ? undefined : Math.round(Number(o.upstreamNs) / 1000) / 1000,
        target: o.notes.upstreamTarget,
        retries: o.notes.retries,
        wsClose: o.notes.websocketClose,
        clientIp: o.clientIp,
        consumer: o.identity?.consumer ?? o.identity?.subject,
        authMethod: o.identity?.method,
        http: o.httpVersion,
      });
    },
  };
}
